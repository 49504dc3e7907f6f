"""kdl's patches of Keras privates (kdl/_keras_compat.py): each fault is still there in the
installed Keras (when one of these fails, upstream fixed it: drop that patch), each guard
stands alone, and the wrappers keep Keras' behaviour where it was right."""

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
