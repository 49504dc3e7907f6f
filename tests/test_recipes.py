"""Recipes end to end: each smoke variant trains, evaluates, exports, and its export
reloads and serves what Keras predicts. Plus the `kdl` command's bad-input contract."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kdl.recipes import Recipe, apply_overrides, get_recipe, list_recipes
from tests.conftest import ROOT, fashion_mnist_available

REQUIRED = {"mlp_fashion_mnist", "lenet5_fashion_mnist", "alexnet_fashion_mnist",
            "vgg16_fashion_mnist", "resnet20_fashion_mnist", "resnet18_fashion_mnist",
            "autoencoder_fashion_mnist", "sdae_fashion_mnist", "char_rnn_pystdlib",
            "resnet20_cifar10", "vgg16_cifar10", "char_rnn_shakespeare", "vit_tiny_fashion_mnist"}
# Data found offline here; every other recipe's data comes from TFDS (mocked in tests).
OFFLINE_DATA = {"fashion_mnist", "text:pystdlib"}
TFDS_RECIPES = {n for n in list_recipes() if get_recipe(n).data not in OFFLINE_DATA}


def kdl(*args, cwd=None, timeout=600, env=None):
    return subprocess.run([sys.executable, "-m", "kdl.cli", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_every_required_recipe_is_registered():
    assert REQUIRED <= set(list_recipes())
    for name in list_recipes():
        recipe = get_recipe(name)
        assert recipe.target is not None and recipe.early_stopping_patience > 0


def test_recipe_files_are_the_registry():
    """`python recipes/X.py` and `kdl train X` read one file: the module kdl loads."""
    import kdl._recipes

    assert os.path.samefile(os.path.dirname(kdl._recipes.__file__), ROOT / "recipes")


def test_overrides_are_typed():
    r = get_recipe("lenet5_fashion_mnist")
    r2 = apply_overrides(r, ["learning_rate=0.01", "epochs=3", "augmentation.crop=4",
                             "optimizer=nesterov"])
    assert (r2.learning_rate, r2.epochs, r2.augmentation["crop"], r2.optimizer) == (
        0.01, 3, 4, "nesterov")
    for bad, fragment in [("learnig_rate=0.1", "Did you mean: learning_rate"),
                          ("epochs=three", "epochs='three'"), ("epochs=2.5", "epochs=2.5"),
                          ("learning_rate", "key=value")]:
        with pytest.raises(ValueError, match=fragment):
            apply_overrides(r, [bad])


def _smoke_and_check_export(name, tmp_path):
    import keras
    import tensorflow as tf

    from kdl.export import export_run
    from kdl.engine.loop import train_and_evaluate

    recipe = get_recipe(name).smoke()
    result = train_and_evaluate(recipe, str(tmp_path / "work"), verbose=0)
    assert result.epochs_run == 1
    # Two float32 computations agree to rounding; bfloat16 ones to its 8-bit mantissa.
    atol = 1e-5 if recipe.precision == "float32" else 1e-2
    assert all(np.isfinite(v) for v in result.test_metrics.values())
    path = export_run(result.model, recipe, str(tmp_path / "exp"), result.summary(), result.data)
    assert path.endswith(os.path.join(name, "1"))
    loaded = tf.saved_model.load(path)
    serve = loaded.signatures["serving_default"]
    if recipe.task == "char_rnn":
        out = serve(tf.constant(["def f(x):", "import o"]))
        probs = out["probabilities"].numpy()
        np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-4)
        ids = np.array([[recipe_vocab_index(result, c) for c in "def f(x):"]], "int32")
        keras_probs = tf.nn.softmax(result.model.predict(ids, verbose=0)[:, -1]).numpy()
        np.testing.assert_allclose(probs[:1], keras_probs, atol=1e-5)
        return
    x = next(iter(result.data.test))[0].numpy()[:8]
    out = serve(tf.constant(x.astype(np.uint8)))
    expected = result.model.predict(x, verbose=0)
    key = "reconstruction" if recipe.task == "autoencoder" else "probabilities"
    assert np.max(np.abs(out[key].numpy() - expected)) < atol
    if recipe.task == "classification":
        top2 = np.sort(expected, axis=-1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 2 * atol  # no near-tie that rounding may flip
        np.testing.assert_array_equal(out["class_ids"].numpy()[clear], expected.argmax(-1)[clear])
    if recipe.test_time_flip:  # the export serves the mean over the image and its mirror
        inner = next(layer for layer in result.model.layers if isinstance(layer, keras.Model))
        both = (inner.predict(x, verbose=0) + inner.predict(x[:, :, ::-1], verbose=0)) / 2
        np.testing.assert_allclose(expected, both, atol=atol / 10)
    float_out = loaded.signatures["serving_float"](tf.constant(x))
    assert np.max(np.abs(float_out[key].numpy() - expected)) < atol
    meta = json.load(open(os.path.join(path, "kdl.json")))
    assert meta["recipe"] == name and meta["config"]["name"] == name
    assert meta["params"] == result.model.count_params()
    assert meta["test_metrics"] == result.test_metrics
    assert {"kdl", "keras", "tensorflow"} <= set(meta["versions"]) and "hardware" in meta
    # And the workdir model reloads safely.
    reloaded = keras.saving.load_model(tmp_path / "work" / "model.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, atol=atol)


def recipe_vocab_index(result, c):
    return list(result.data.vocabulary).index(c)


# The deep nets' smoke runs (the builders are tested on every backend in test_models) and the
# image TFDS recipes (char_rnn_shakespeare keeps the TFDS path in make test) run in make test-slow.
SLOW_SMOKE = {"resnet18_fashion_mnist", "resnet20_fashion_mnist", "vgg16_fashion_mnist",
              "resnet20_cifar10", "vgg16_cifar10"}


def _tiered(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_SMOKE else n for n in sorted(names)]


@pytest.mark.parametrize("name", _tiered(set(list_recipes()) - TFDS_RECIPES))
def test_smoke_recipe_end_to_end(name, tmp_path):
    if get_recipe(name).data == "fashion_mnist" and not fashion_mnist_available():
        pytest.skip("Fashion-MNIST files missing")
    _smoke_and_check_export(name, tmp_path)


@pytest.mark.parametrize("name", _tiered(TFDS_RECIPES))
def test_tfds_recipes_with_mock_data(name, tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=64):
        _smoke_and_check_export(name, tmp_path)


def test_saved_model_cli_lists_both_signatures(tmp_path):
    import keras

    from kdl.export import export_saved_model
    from kdl.models import get_model

    model = get_model("lenet5")
    path = export_saved_model(model, str(tmp_path), "m", task="classification")
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    out = subprocess.run([cli, "show", "--dir", path, "--all"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "signature_def['serving_default']" in out.stdout
    assert "signature_def['serving_float']" in out.stdout
    assert "DT_UINT8" in out.stdout
    del keras


def test_export_versions_never_overwrite_and_crash_leaves_no_partial(tmp_path, monkeypatch):
    from kdl import export
    from kdl.export import export_saved_model
    from kdl.models import get_model

    model = get_model("lenet5")
    p1 = export_saved_model(model, str(tmp_path), "m", task="classification")
    p2 = export_saved_model(model, str(tmp_path), "m", task="classification")
    assert [os.path.basename(p) for p in (p1, p2)] == ["1", "2"]
    mtime = os.path.getmtime(os.path.join(p1, "saved_model.pb"))

    def crash(tmp, base):
        assert os.path.exists(os.path.join(tmp, "saved_model.pb"))  # written, not published
        raise RuntimeError("simulated crash after the write")

    with monkeypatch.context() as patch:
        patch.setattr(export, "_publish", crash)
        with pytest.raises(RuntimeError):
            export_saved_model(model, str(tmp_path), "m", task="classification")
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "2"]
    assert os.path.getmtime(os.path.join(p1, "saved_model.pb")) == mtime
    assert os.path.basename(export_saved_model(model, str(tmp_path), "m",
                                               task="classification")) == "3"


# --- the command line ---------------------------------------------------------------------

@pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST files missing")
def test_resuming_another_configuration_is_status_2_and_keeps_the_backup(tmp_path):
    work = tmp_path / "w"
    (work / "backup").mkdir(parents=True)
    saved = get_recipe("mlp_fashion_mnist").smoke().to_dict()
    (work / "recipe.json").write_text(json.dumps(saved, default=str))
    out = kdl("train", "mlp_fashion_mnist", "--smoke", "--batch-size", "64", "--workdir",
              str(work), "--no-export", cwd=tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    assert "differs in batch_size" in out.stderr and "batch_size=64" in out.stderr
    assert json.loads((work / "recipe.json").read_text()) == json.loads(json.dumps(saved, default=str))
    assert (work / "backup").is_dir()


def test_missing_data_is_status_2_with_how_to_get_it(tmp_path):
    out = kdl("train", "resnet20_cifar10", "--workdir", str(tmp_path / "w"), cwd=tmp_path,
              env={"TFDS_DATA_DIR": str(tmp_path / "tfds"), "KDL_OFFLINE": "1"})
    assert out.returncode == 2, out.stderr[-3000:]
    assert "internet" in out.stderr and "cifar10" in out.stderr


@pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST files missing")
def test_predict_checks_shapes_and_classifies(tmp_path):
    from PIL import Image

    from kdl.data import load_image_dataset
    from kdl.export import export_saved_model
    from kdl.models import get_model

    export_saved_model(get_model("lenet5"), str(tmp_path), "m", task="classification",
                       metadata={"class_names": [str(i) for i in range(10)]})
    ds = load_image_dataset("fashion_mnist")
    Image.fromarray(ds.arrays["test"][0][0, :, :, 0]).save(tmp_path / "a.png")
    np.save(tmp_path / "b.npy", ds.arrays["test"][0][1])
    np.save(tmp_path / "wrong.npy", np.zeros((32, 32, 1), np.uint8))
    out = kdl("predict", str(tmp_path / "m"), str(tmp_path / "a.png"), str(tmp_path / "b.npy"),
              "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 2 and all(0 <= r["class_id"] < 10 for r in rows)
    bad = kdl("predict", str(tmp_path / "m"), str(tmp_path / "wrong.npy"))
    assert bad.returncode == 2 and "(32, 32, 1)" in bad.stderr and "(28, 28, 1)" in bad.stderr


def test_list_shows_every_recipe():
    out = kdl("list", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    assert REQUIRED <= {r["recipe"] for r in rows}


def test_recipe_smoke_variants_are_small():
    """Every smoke variant trains on a slice: at most 4,096 examples (or 50,000 characters)."""
    for name in list_recipes():
        s = get_recipe(name).smoke()
        assert isinstance(s, Recipe) and s.epochs == 1
        if s.task == "char_rnn":
            assert s.max_chars is not None and s.max_chars <= 50_000, name
        else:
            assert s.max_train_examples is not None and s.max_train_examples <= 4096, name
            assert s.max_test_examples is not None and s.max_test_examples <= 4096, name


@pytest.mark.slow
@pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST files missing")
def test_two_real_one_epoch_runs_export_versions_1_and_2(tmp_path, capsys):
    """Issue 4's check: the real recipe for one epoch exports version 1, serving; a second
    run into the same export directory (a smoke run, in this process: the versioning is
    what it checks) exports version 2 beside it."""
    import tensorflow as tf

    from kdl import cli
    from kdl.data import load_image_dataset

    x = load_image_dataset("fashion_mnist").arrays["test"][0][:16]
    for version, size in ((1, ["--epochs", "1"]), (2, ["--smoke"])):
        args = ["train", "lenet5_fashion_mnist", *size, "--export-dir", str(tmp_path / "exp"),
                "--workdir", str(tmp_path / f"w{version}"), "--json", "--quiet"]
        if version == 1:
            out = kdl(*args, cwd=tmp_path)
            assert out.returncode == 0, out.stderr[-3000:]
            stdout = out.stdout
        else:
            capsys.readouterr()
            assert cli.main(args) == 0
            stdout = capsys.readouterr().out
        summary = json.loads(stdout.strip().splitlines()[-1])
        if version == 1:
            assert summary["epochs_run"] == 1 and summary["test_metrics"]["accuracy"] > 0.80
        assert summary["export_path"] == str(tmp_path / "exp" / "lenet5_fashion_mnist" / str(version))
        serve = tf.saved_model.load(summary["export_path"]).signatures["serving_default"]
        probs = serve(tf.constant(x))["probabilities"].numpy()
        assert probs.shape == (16, 10)
    assert sorted(os.listdir(tmp_path / "exp" / "lenet5_fashion_mnist")) == ["1", "2"]


@pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST files missing")
def test_mixed_bfloat16_recipe_trains_and_exports_float32_probabilities(tmp_path):
    import tensorflow as tf

    from kdl.export import export_run
    from kdl.engine.loop import train_and_evaluate

    # Without weight averaging: over the smoke run's 16 steps a 0.99 average is still
    # mostly the initial weights, and this test checks what bfloat16 training learns.
    recipe = get_recipe("lenet5_fashion_mnist").smoke().replace(precision="mixed_bfloat16",
                                                                 ema=None)
    result = train_and_evaluate(recipe, str(tmp_path / "w"), verbose=0)
    assert recipe.test_time_flip  # the trained net sits inside the flip-averaging model
    assert result.model.get_layer("lenet5").get_layer("conv1").compute_dtype == "bfloat16"
    assert result.test_metrics["accuracy"] > 0.3
    path = export_run(result.model, recipe, str(tmp_path / "e"), result.summary(), result.data)
    out = tf.saved_model.load(path).signatures["serving_default"](
        tf.zeros((2, 28, 28, 1), tf.uint8))
    assert out["probabilities"].dtype == tf.float32
    import keras

    assert keras.mixed_precision.global_policy().name == "float32"  # restored after training


def test_backup_torn_by_a_kill_mid_write_falls_back_to_the_previous_epoch(tmp_path):
    """A SIGKILL while the backup's weights file is written leaves it truncated; kdl keeps
    the previous epoch's backup beside it and resumes from that one."""
    import keras

    from kdl.callbacks import EpochCounter
    from kdl.engine.loop import _callbacks

    recipe = get_recipe("mlp_fashion_mnist").replace(monitor_activations=False)

    def backup_callback():
        cbs = _callbacks(recipe, str(tmp_path), None, EpochCounter(), verbose=0)
        return next(c for c in cbs if isinstance(c, keras.callbacks.BackupAndRestore))

    def model():
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        m.compile("adam", "mse")
        return m

    x, y = np.random.rand(32, 4), np.random.rand(32, 3)
    first = backup_callback()
    first.delete_checkpoint = False  # as if killed before the run's end
    model().fit(x, y, epochs=2, callbacks=[first], verbose=0)
    latest = tmp_path / "backup" / "latest.weights.h5"
    with open(latest, "r+b") as f:
        f.truncate(latest.stat().st_size // 2)
    history = model().fit(x, y, epochs=3, callbacks=[backup_callback()], verbose=0)
    assert len(history.history["loss"]) == 2  # resumed after epoch 1, the intact backup


@pytest.mark.parametrize("optimizer, schedule", [("momentum", "warmup_cosine"), ("adam", "cosine")])
def test_single_pass_weight_decay_trains_exactly_like_keras(optimizer, schedule):
    """kdl's one-pass decoupled weight decay gives Keras' weights, step for step."""
    import keras

    from kdl.optimizers import build_optimizer
    from kdl._keras_compat import use_single_pass_weight_decay

    recipe = get_recipe("resnet18_fashion_mnist").replace(
        optimizer=optimizer, schedule=schedule, weight_decay=5e-3, learning_rate=0.05, epochs=2,
        warmup_epochs=1)
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, size=64)
    weights = []
    for fast in (True, False):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.BatchNormalization(), keras.layers.Dense(3)])
        opt = build_optimizer(recipe, steps_per_epoch=4)
        if not fast:
            opt = type(opt).from_config(opt.get_config())  # Keras' own, untouched
        else:
            assert "_apply_weight_decay" in vars(opt)  # kdl's replaced Keras' on this Keras
        model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(True))
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(weights[0][0], 0)
    assert use_single_pass_weight_decay(keras.optimizers.SGD(0.1, weight_decay=1e-4))
