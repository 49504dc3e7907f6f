"""`kdl train --backend jax|torch`: tf.data (augmentation included) feeds the backend, the
run trains, evaluates and reports, and its export is a TensorFlow SavedModel with the same
signatures, serving what the trained model predicts (checked here, on the TensorFlow
backend, against its .keras file)."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, fashion_mnist_available

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(
    importlib.util.find_spec(name) is None, reason=f"{name} not installed"))
    for name in ("jax", "torch")]


def kdl(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KERAS_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "kdl.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST files missing")
def test_run_on_another_backend_exports_a_saved_model_that_serves_its_predictions(
        backend, tmp_path):
    """LeNet-5's smoke run: flips in tf.data, weight averaging, flip-averaged evaluation;
    with --deterministic, and run again (no export) to the same metrics bit for bit."""
    import json

    import keras
    import tensorflow as tf

    importlib.import_module("kdl.layers")  # registers Flip for the .keras file
    importlib.import_module("kdl.losses")  # and the recipe's label-smoothing loss
    from kdl.data import load_image_dataset

    out = kdl("train", "lenet5_fashion_mnist", "--smoke", "--backend", backend, "--workdir",
              str(tmp_path / "w"), "--export-dir", str(tmp_path / "e"), "--json", "--no-report",
              "--deterministic", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "warning" not in out.stderr.lower(), out.stderr[-2000:]
    metrics = json.loads(out.stdout.strip().splitlines()[-1])["test_metrics"]
    assert metrics["accuracy"] > 0.1
    again = kdl("train", "lenet5_fashion_mnist", "--smoke", "--backend", backend,
                "--deterministic", "--workdir", str(tmp_path / "w2"), "--no-export",
                "--no-report", "--json", "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["test_metrics"] == metrics  # bit for bit
    # The run as it ran: jax.jit on (without it Keras runs JAX op by op), torch eager.
    ran = json.loads((tmp_path / "w" / "recipe.json").read_text())
    assert ran["jit_compile"] is (backend == "jax") and ran["deterministic"] is True
    loaded = tf.saved_model.load(str(tmp_path / "e" / "lenet5_fashion_mnist" / "1"))
    assert set(loaded.signatures) == {"serving_default", "serving_float", "serving_bytes"}
    images = load_image_dataset("fashion_mnist").arrays["test"][0][:16]
    served = loaded.signatures["serving_default"](tf.constant(images))
    model = keras.saving.load_model(tmp_path / "w" / "model.keras", safe_mode=True, compile=False)
    expected = model.predict(images.astype("float32"), verbose=0)
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-5)
    assert served["class_ids"].dtype == tf.int64
    np.testing.assert_array_equal(served["class_ids"].numpy(), expected.argmax(-1))
    # The bytes a TF Serving client sends, answered with class names, on every backend.
    pngs = tf.constant([tf.io.encode_png(x).numpy() for x in images[:4]])
    by_bytes = loaded.signatures["serving_bytes"](images=pngs)
    np.testing.assert_allclose(by_bytes["probabilities"].numpy(), expected[:4], atol=1e-5)
    names = json.loads((tmp_path / "e" / "lenet5_fashion_mnist" / "1" / "kdl.json")
                       .read_text())["class_names"]
    assert [n.decode() for n in by_bytes["class_names"].numpy()] == \
        [names[i] for i in expected[:4].argmax(-1)]


def test_tf_distribute_is_refused_on_other_backends(tmp_path):
    out = kdl("train", "mlp_fashion_mnist", "--smoke", "--backend", "jax", "--strategy",
              "mirrored", "--workdir", str(tmp_path / "w"), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "kdl: error: tf.distribute strategies need the TensorFlow backend. Received: "
        "--strategy mirrored on KERAS_BACKEND=jax"]
    assert not (tmp_path / "w").exists()


@needs_jax
def test_jax_data_parallel_over_two_logical_cpu_devices(tmp_path):
    """keras.distribution.DataParallel: weights replicated on both devices, a step trains."""
    code = (
        "import numpy as np, keras\n"
        "from kdl.engine.distribute import use_keras_data_parallel\n"
        "from kdl.models import get_model\n"
        "n = use_keras_data_parallel()\n"
        "m = get_model('mlp', hidden_units=(16,))\n"
        "m.compile('sgd', 'sparse_categorical_crossentropy')\n"
        "h = m.fit(np.random.rand(64, 28, 28, 1).astype('float32'), np.arange(64) % 10,\n"
        "          batch_size=32, epochs=1, verbose=0)\n"
        "print(n, len(m.weights[0].value.sharding.device_set), np.isfinite(h.history['loss'][0]))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-3:] == ["2", "2", "True"], out.stdout


# --- --deterministic on every backend ------------------------------------------------------

def test_enable_determinism_turns_on_each_backends_switch(tmp_path):
    """PyTorch's deterministic algorithms, XLA's deterministic-ops flag set before JAX
    starts, and a clear error where JAX already runs on a GPU without it (faked here)."""
    code = (
        "import os\n"
        "os.environ.pop('XLA_FLAGS', None); os.environ.pop('CUBLAS_WORKSPACE_CONFIG', None)\n"
        "from kdl.platform import enable_determinism, JAX_DETERMINISTIC_FLAG\n"
        "import tensorflow as tf\n"
        "import torch\n"
        "assert not torch.are_deterministic_algorithms_enabled()\n"
        "enable_determinism('torch')\n"
        "assert torch.are_deterministic_algorithms_enabled()\n"
        "assert not torch.backends.cudnn.benchmark\n"
        "assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'\n"
        "from tensorflow.python.framework import config\n"
        "assert config.is_op_determinism_enabled()\n"
        "enable_determinism('jax')\n"
        "assert os.environ['XLA_FLAGS'] == JAX_DETERMINISTIC_FLAG, os.environ['XLA_FLAGS']\n"
        "os.environ.pop('XLA_FLAGS')\n"
        "import jax\n"
        "jax.numpy.ones(2).sum()  # JAX started, without the flag\n"
        "enable_determinism('jax')  # on CPUs that is fine\n"
        "jax.default_backend = lambda: 'gpu'\n"
        "try:\n"
        "    enable_determinism('jax')\n"
        "except ValueError as e:\n"
        "    print(e)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    if "No module named 'torch'" in out.stderr or "No module named 'jax'" in out.stderr:
        pytest.skip("needs torch and jax")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == (
        "deterministic runs on JAX's gpu need XLA_FLAGS=--xla_gpu_deterministic_ops=true "
        "before JAX starts (kdl train --deterministic sets it). Received: XLA_FLAGS='' with "
        "JAX already started")


# --- without TensorFlow --------------------------------------------------------------------

@pytest.mark.slow
def test_builders_layers_and_augmentation_work_on_jax_without_tensorflow(tmp_path):
    """A GPU machine with JAX and no TensorFlow (as the one the project borrows) can build
    a recipe's model with its augmentation inside, read Fashion-MNIST's IDX files and train
    a step: TensorFlow is refused at import, and nothing of kdl's asks for it."""
    block = tmp_path / "sitecustomize.py"
    block.write_text(
        "import sys\n"
        "class NoTensorFlow:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tensorflow', 'tensorflow_datasets'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (refused)')\n"
        "sys.meta_path.insert(0, NoTensorFlow())\n")
    code = (
        "import sys, numpy as np, keras\n"
        "from kdl.data.augment import build_augmentation\n"
        "from kdl.data.sources import carve_validation\n"
        "from kdl.models import get_model\n"
        "from kdl.recipes import get_recipe\n"
        "from kdl.engine.loop import compile_model\n"
        "r = get_recipe('resnet20_fashion_mnist').replace(epochs=1, batch_size=8)\n"
        "(x, y), (xv, yv) = carve_validation(np.random.rand(20, 28, 28, 1).astype('float32') * 255,\n"
        "                                     np.arange(20) % 10, 0.2, 0)\n"
        "inputs = keras.Input((28, 28, 1))\n"
        "h = build_augmentation(r.augmentation, (28, 28, 1), seed=0)(inputs)\n"
        "model = get_model('resnet20', input_tensor=keras.layers.Rescaling(1 / 255)(h), classes=10,\n"
        "                  width_multiplier=0.25)\n"
        "model = keras.Model(inputs, model.output)\n"
        "compile_model(model, r, 2)\n"
        "loss = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history['loss'][0]\n"
        "print(len(x), len(xv), bool(np.isfinite(loss)), 'tensorflow' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "KERAS_BACKEND": "jax"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    if "No module named 'jax'" in out.stderr:
        pytest.skip("needs jax")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-4:] == ["16", "4", "True", "False"], out.stdout
