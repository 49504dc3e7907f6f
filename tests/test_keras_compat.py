"""kdl's patches of Keras privates (kdl/_keras_compat.py): each fault is still there in the
installed Keras (when one of these fails, upstream fixed it: drop that patch), each guard
stands alone, and the wrappers keep Keras' behaviour where it was right."""

import importlib.util
import os

import keras
import pytest

from kdl import _keras_compat as compat

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="the patches are of Keras' TensorFlow trainer")


def test_keras_issue_20585_faults_are_still_there():
    # If this fails, Keras fixed its multi-worker fit: remove the patch it names.
    assert compat.reduce_per_replica_is_faulty(), "reduce_per_replica fixed upstream"
    assert compat.symbolic_build_is_faulty(), "_maybe_symbolic_build fixed upstream"


def test_multi_pass_weight_decay_is_still_there():
    assert compat.weight_decay_is_multi_pass(), "Keras' weight decay is single-pass now"


def test_initial_epoch_is_read_and_set_through_one_guarded_place():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model._initial_epoch = None
    assert compat.get_initial_epoch(model) == 0
    compat.set_initial_epoch(model, 3)
    assert compat.get_initial_epoch(model) == 3

    class Bare:
        pass

    with pytest.raises(RuntimeError, match="_initial_epoch"):
        compat.get_initial_epoch(Bare())


def test_each_multi_worker_patch_has_its_own_guard(monkeypatch):
    from keras.src.backend.tensorflow import trainer

    monkeypatch.setattr(compat, "_APPLIED", {})
    monkeypatch.setattr(compat, "reduce_per_replica_is_faulty", lambda: False)
    monkeypatch.setattr(trainer, "reduce_per_replica", trainer.reduce_per_replica)
    monkeypatch.setattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build",
                        trainer.TensorFlowTrainer._maybe_symbolic_build)
    before = trainer.reduce_per_replica
    assert compat.patch_multi_worker_fit() is True
    assert compat.applied_patches() == {"reduce_per_replica": False, "maybe_symbolic_build": True}
    assert trainer.reduce_per_replica is before  # a fixed function is left alone


def test_patched_reduce_keeps_keras_behaviour_off_multi_worker(monkeypatch):
    import numpy as np
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    monkeypatch.setattr(trainer, "reduce_per_replica", trainer.reduce_per_replica)
    original = trainer.reduce_per_replica
    compat._patch_reduce_per_replica()
    strategy = tf.distribute.get_strategy()
    values = {"loss": tf.constant(1.5), "x": tf.constant([1.0, 2.0])}
    for reduction in ("auto", "first", "sum"):
        ours = trainer.reduce_per_replica(values, strategy, reduction)
        theirs = original(values, strategy, reduction)
        for key in values:
            np.testing.assert_array_equal(ours[key], theirs[key])


def test_data_layer_is_private_and_still_has_its_contract():
    """Fails once Keras exports DataLayer (then drop the private import) or changes what
    kdl's augmentation layers rely on: a DynamicBackend and per-backend seed generators."""
    import keras

    assert not hasattr(keras.layers, "DataLayer"), "Keras exports DataLayer now: use it"
    assert issubclass(compat.DataLayer, keras.layers.Layer)
    layer = compat.DataLayer()
    assert hasattr(layer, "backend") and hasattr(layer.backend, "set_backend")
    assert callable(getattr(compat.DataLayer, "_get_seed_generator", None))


_EMA_ON_JAX = """
import sys, keras, numpy as np
from kdl._keras_compat import copy_averages_on_overwrite
rng = np.random.default_rng(0)
x, y = rng.random((64, 8), dtype=np.float32), rng.integers(0, 3, 64)
inputs = keras.Input((8,))
model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
optimizer = keras.optimizers.Adam(use_ema=True, ema_overwrite_frequency=2)
patched = sys.argv[1] == "patched" and copy_averages_on_overwrite(optimizer)
model.compile(optimizer, "sparse_categorical_crossentropy", jit_compile=True)
model.fit(x, y, batch_size=16, verbose=0)  # ends with the weights set to their averages
wrapper = keras.Model(inputs, model(inputs))  # e.g. kdl's flip averaging around it
wrapper.compile(loss="sparse_categorical_crossentropy", jit_compile=True)
wrapper.evaluate(x, y, verbose=0)  # donates the weights' buffers
try:
    model.save(sys.argv[2])
    print("saved", patched)
except RuntimeError as e:
    print("failed", patched, e)
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
@pytest.mark.parametrize("mode", ["plain", "patched"])
def test_averaged_weights_survive_a_jitted_call_on_jax_only_with_the_patch(mode, tmp_path):
    """Keras' fault is still there (drop patch 5 when "plain" saves), and the patch mends it."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _EMA_ON_JAX, mode, str(tmp_path / "m.keras")],
                         env=env, capture_output=True, text=True, timeout=300)
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-2000:]
    if mode == "plain":
        assert last.startswith("failed False Array has been deleted"), last
    else:
        assert last == "saved True", last


class _TornWrite(Exception):
    pass


# KerasTuner's save_json, killed right after it handed the JSON to its file and before it
# closed it (the file is truncated and the content still buffered).
_KILLED_SAVE = """
import os, signal, sys
from keras_tuner.src import backend, utils
from kdl import _keras_compat as compat
if sys.argv[2] == "patched":
    assert compat.patch_keras_tuner_save_json()
real_file, real_open = backend.io.File, open

class Dying:
    def __init__(self, *args):
        self.f = real_file(*args)
    def __enter__(self):
        self.f.__enter__()
        return self
    def __exit__(self, *exc):
        return self.f.__exit__(*exc)
    def write(self, text):
        self.f.write(text)
        os.kill(os.getpid(), signal.SIGKILL)

def dying_open(*args, **kwargs):
    f = real_open(*args, **kwargs)
    if "w" in (args[1] if len(args) > 1 else kwargs.get("mode", "r")):
        write = f.write
        f.write = lambda text: (write(text), os.kill(os.getpid(), signal.SIGKILL))
    return f

backend.io.File = Dying
import builtins
builtins.open = dying_open
utils.save_json(sys.argv[1], {"trials": 2, "pad": "x" * 100000})
"""


@pytest.mark.parametrize("mode", ["upstream", "patched"])
def test_keras_tuner_save_json_killed_mid_write(tmp_path, mode):
    # If "upstream" fails, KerasTuner writes its state whole now: remove patch 6.
    import subprocess
    import sys

    path = tmp_path / "oracle.json"
    path.write_text('{"trials": 1}')
    out = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(path), mode],
                         capture_output=True, text=True)
    assert out.returncode == -9, out.stderr[-2000:]
    if mode == "upstream":
        assert compat.keras_tuner_save_json_is_torn()
        assert path.read_text() != '{"trials": 1}', "KerasTuner's save_json is atomic now"
    else:
        assert path.read_text() == '{"trials": 1}'


def test_oracle_still_saves_an_ended_trial_as_ongoing():
    # If this fails, KerasTuner no longer retries finished trials after a kill: drop patch 7.
    assert compat.oracle_retries_ended_trials()


def test_keras_onnx_export_still_leaves_normalization_weights_as_inputs(tmp_path):
    # If this fails, Keras' ONNX export freezes weights now: kdl.formats may use it.
    import numpy as np

    norm = keras.layers.Normalization()
    norm.adapt(np.arange(32, dtype="float32").reshape(2, 4, 4, 1))
    model = keras.Sequential([keras.Input((4, 4, 1)), norm, keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    model(np.zeros((1, 4, 4, 1), "float32"))
    assert compat.keras_onnx_leaves_weights_as_inputs(model, str(tmp_path / "m.onnx"))


def test_a_resumed_fit_leaves_its_epoch_for_the_next_fit(tmp_path):
    """The fault behind clear_initial_epoch: after fit resumed from a BackupAndRestore at
    epoch 2, a second fit of the same model (initial_epoch=0) starts at epoch 2 too. Fails
    when Keras clears it, and then the clearing can go."""
    import numpy as np

    from tests.conftest import tiny_model

    x, y = np.zeros((8, 5), "float32"), np.zeros(8, "int64")
    model = tiny_model()
    model.compile("sgd", "sparse_categorical_crossentropy")
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "b"), delete_checkpoint=False)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[backup])
    resumed = tiny_model()
    resumed.compile("sgd", "sparse_categorical_crossentropy")
    resumed.fit(x, y, epochs=3, verbose=0, callbacks=[
        keras.callbacks.BackupAndRestore(str(tmp_path / "b"), delete_checkpoint=False)])
    again = resumed.fit(x, y, epochs=3, verbose=0)
    assert len(again.history["loss"]) == 1  # epochs 2..3 only: the fault
    compat.clear_initial_epoch(resumed)
    assert len(resumed.fit(x, y, epochs=3, verbose=0).history["loss"]) == 3
