"""Every patch kdl makes to a private part of Keras or TensorFlow, in one place.

Each patch has its own guard, which reads the installed Keras' source for the faulty
code (never a version number) and leaves a fixed Keras alone; each wraps the original
rather than copying it where the original can be reused. ``tests/test_keras_compat.py``
fails when an installed Keras no longer has a fault, so that its patch gets dropped.

Checked on Keras 3.15.1 with TensorFlow 2.21 (TensorFlow backend):

1. ``fit`` under MultiWorkerMirroredStrategy (keras-team/keras issue 20585):
   ``reduce_per_replica`` reduces scalar logs with ``axis=0``, and
   ``TensorFlowTrainer._maybe_symbolic_build`` reduces a distributed *data batch* with
   ``strategy.reduce``; both fail on a multi-worker strategy.
2. Decoupled weight decay in the TensorFlow optimizer as ``v.assign_sub(v * wd * lr)``:
   two temporaries the size of each weight and the schedule evaluated once per weight.
3. ``Model._initial_epoch``: the epoch ``fit`` resumes from after ``BackupAndRestore``,
   private; :class:`kdl.callbacks.ResumeInSync` reads and sets it through here. Keras never
   clears it: after a resumed ``fit``, the next ``fit`` of the same model starts from that
   restored epoch whatever its ``initial_epoch``. A fine-tuning run's second phase is such
   a ``fit``; kdl clears it before each phase (:func:`clear_initial_epoch`).
4. ``DataLayer`` (``keras.src.layers.preprocessing.data_layer``): the base of Keras' own
   preprocessing layers, which run on TensorFlow inside tf.data whatever the Keras
   backend; documented with examples but not exported as ``keras.layers.DataLayer``.
   kdl's augmentation layers subclass it; the public name is used once Keras has one.
5. Weight averaging on JAX: at the end of ``fit`` the optimizer's
   ``_overwrite_model_variables_with_average_value`` does ``var.assign(average_var)``,
   which on JAX makes the weight and its average one array. The next jitted call
   (evaluate, predict) donates the weights' buffers and so deletes the averages too:
   saving the model then fails with "Array has been deleted". kdl assigns a copy.
6. KerasTuner's ``utils.save_json`` (``oracle.json``, every ``trial.json``, each trial's
   build config; KerasTuner 1.4.8) truncates the file and then writes it: a search killed
   in between leaves an empty or half JSON, and the same command again fails to reload
   the project. kdl writes local paths whole or not at all (:mod:`kdl._files`); remote
   ones (``gs://``) go to KerasTuner's own writer.
7. KerasTuner's ``Oracle.end_trial`` saves ``oracle.json`` before it removes the ended
   trial from the ongoing ones, and ``Oracle.reload`` sends every ongoing trial back for
   a retry: a search killed after a trial ended and before the next began runs that
   finished trial again. kdl's reload leaves out of the retries the trials whose own
   ``trial.json`` says COMPLETED and whose end the oracle recorded.
8. ONNX on TensorFlow: ``model.export(format="onnx")`` leaves a Normalization layer's
   mean and variance as graph inputs (a client would have to feed them), so
   :mod:`kdl.formats` freezes the forward pass and calls tf2onnx itself, after Keras'
   private NumPy-2 fix-up of tf2onnx (``keras.src.export.onnx.patch_tf2onnx``).
"""

from __future__ import annotations

import inspect
import json
import os

import keras

from kdl._files import write_text

_APPLIED: dict[str, bool] = {}


def _source(obj) -> str:
    try:
        return inspect.getsource(obj)
    except (AttributeError, OSError, TypeError):
        return ""


# --- 1. fit under MultiWorkerMirroredStrategy --------------------------------------------

def reduce_per_replica_is_faulty() -> bool:
    from keras.src.backend.tensorflow import trainer

    return 'reduce("MEAN", v, axis=0)' in _source(getattr(trainer, "reduce_per_replica", None))


def symbolic_build_is_faulty() -> bool:
    from keras.src.backend.tensorflow import trainer

    method = getattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build", None)
    return "distribute_strategy.reduce(" in _source(method)


def _patch_reduce_per_replica() -> None:
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if not trainer._collective_all_reduce_multi_worker(strategy) or reduction not in (
                "mean", "auto"):
            return original(values, strategy, reduction)

        def _reduce(v):
            if not trainer._is_per_replica_instance(v) and not isinstance(v, tf.Tensor):
                return v
            # Scalars (loss, metric results) have no axis 0 to reduce over.
            return strategy.reduce("MEAN", v, axis=0 if v.shape.rank else None)

        return tree.map_structure(_reduce, values)

    trainer.reduce_per_replica = reduce_per_replica


def _patch_symbolic_build() -> None:
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    original = trainer.TensorFlowTrainer._maybe_symbolic_build

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is not None and iterator is not None:
            for _, _, it in iterator:
                # Only shapes matter for the symbolic build: the first local replica's
                # part of the batch, instead of a reduction of the batch across workers.
                data_batch = tree.map_structure(
                    lambda x: self.distribute_strategy.experimental_local_results(x)[0]
                    if isinstance(x, tf.distribute.DistributedValues) else x, next(it))
                break
        return original(self, iterator=None, data_batch=data_batch)

    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build


def patch_multi_worker_fit() -> bool:
    """Fix Keras 3 ``fit`` under MultiWorkerMirroredStrategy; True if any patch is in place.
    Each of its two faults is patched only where the installed Keras still has it."""
    if keras.backend.backend() != "tensorflow":
        return False
    for name, faulty, patch in (("reduce_per_replica", reduce_per_replica_is_faulty,
                                 _patch_reduce_per_replica),
                                ("maybe_symbolic_build", symbolic_build_is_faulty,
                                 _patch_symbolic_build)):
        if name not in _APPLIED:
            _APPLIED[name] = faulty()
            if _APPLIED[name]:
                patch()
    return any(_APPLIED.values())


def applied_patches() -> dict[str, bool]:
    """Which patches this process has applied (name -> applied)."""
    return dict(_APPLIED)


# --- 2. single-pass weight decay ----------------------------------------------------------

def weight_decay_is_multi_pass() -> bool:
    """Whether this Keras' TensorFlow optimizer decays weights as ``v - v * wd * lr``
    (checked in its source, not assumed from its version)."""
    import inspect

    from keras.src.backend.tensorflow.optimizer import TFOptimizer

    try:
        source = inspect.getsource(TFOptimizer._apply_weight_decay)
    except (AttributeError, OSError, TypeError):
        return False
    return "variable.assign_sub(variable * wd * lr)" in source


def use_single_pass_weight_decay(optimizer) -> bool:
    """Decoupled weight decay as ``v.assign(v * (1 - lr * wd))``, the same update as Keras'.

    Keras 3's TensorFlow optimizer computes ``v.assign_sub(v * wd * lr)``: two temporaries
    the size of each weight, and the learning-rate schedule evaluated once per weight.
    This evaluates the schedule once a step and makes one pass over each weight (the
    difference is measured by ``benchmarks/recipe_settings.py``). Applied only where
    Keras' source has that form; returns whether it was applied.
    """
    if keras.backend.backend() != "tensorflow" or not weight_decay_is_multi_pass():
        return False
    import tensorflow as tf

    def _apply_weight_decay(variables):
        if optimizer.weight_decay is None:
            return
        variables = [v.value if isinstance(v, keras.Variable) else v for v in variables
                     if optimizer._use_weight_decay(v)]
        if not variables:
            return
        keep = 1.0 - (tf.cast(optimizer.learning_rate, tf.float32)
                      * tf.cast(optimizer.weight_decay, tf.float32))

        def apply(distribution, variables):
            for variable in variables:
                distribution.extended.update(
                    variable, lambda v: v.assign(v * tf.cast(keep, v.dtype)), group=False)

        tf.__internal__.distribute.interim.maybe_merge_call(
            apply, optimizer._distribution_strategy, variables)

    optimizer._apply_weight_decay = _apply_weight_decay
    return True


# --- 5. weight averaging on JAX -----------------------------------------------------------

def ema_overwrite_aliases() -> bool:
    """Whether this Keras overwrites weights with their averages by plain assignment (read
    in its source), which on JAX leaves the two sharing one array."""
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    try:
        source = inspect.getsource(BaseOptimizer._overwrite_model_variables_with_average_value)
    except (AttributeError, OSError, TypeError):
        return False
    return "var.assign(average_var)" in source


def copy_averages_on_overwrite(optimizer) -> bool:
    """On JAX, make ``optimizer``'s overwrite of the weights with their moving averages
    assign copies, so that a later jitted call that donates the weights' buffers leaves
    the averages alive. Returns whether it was applied."""
    if keras.backend.backend() != "jax" or not optimizer.use_ema or not ema_overwrite_aliases():
        return False

    original = optimizer._overwrite_model_variables_with_average_value

    def overwrite(trainable_variables):
        original(trainable_variables)
        for var in trainable_variables:  # each weight its own array again
            var.assign(keras.ops.copy(var.value))

    optimizer._overwrite_model_variables_with_average_value = overwrite
    _APPLIED["copy_averages_on_overwrite"] = True
    return True


# --- 3. the epoch fit resumes from -------------------------------------------------------

def _check_initial_epoch(model) -> None:
    if not hasattr(model, "_initial_epoch"):
        raise RuntimeError(
            "This Keras has no Model._initial_epoch, which kdl's ResumeInSync reads and sets "
            f"to resume workers together (checked on Keras 3.15). Received: keras "
            f"{keras.version()}")


def get_initial_epoch(model) -> int:
    _check_initial_epoch(model)
    return int(model._initial_epoch or 0)


def set_initial_epoch(model, epoch: int) -> None:
    _check_initial_epoch(model)
    model._initial_epoch = int(epoch)


def clear_initial_epoch(model) -> None:
    """Forget the epoch a previous resumed ``fit`` restored, so that this ``fit`` starts at
    its own ``initial_epoch`` (or at what its own ``BackupAndRestore`` restores)."""
    _check_initial_epoch(model)
    model._initial_epoch = None


# --- 4. the base class of layers that run inside tf.data on every backend ---------------

def _data_layer():
    public = getattr(keras.layers, "DataLayer", None)
    if public is not None:
        return public
    try:
        from keras.src.layers.preprocessing.data_layer import DataLayer as private
    except ImportError:  # older Keras: its TFDataLayer has the same contract
        from keras.src.layers.preprocessing.tf_data_layer import TFDataLayer as private
    return private


DataLayer = _data_layer()


# --- 6. KerasTuner's JSON files, whole or absent --------------------------------------

def keras_tuner_save_json_is_torn() -> bool:
    """True while KerasTuner writes its state files in place (truncate, then write)."""
    from keras_tuner.src import utils

    source = _source(getattr(utils, "save_json", None))
    return '"w")' in source and "replace" not in source and "rename" not in source


def patch_keras_tuner_save_json() -> bool:
    """Make KerasTuner's ``save_json`` atomic for local paths; True when it was patched
    (once per process), False where KerasTuner needs no patch."""
    from keras_tuner.src import utils

    if _APPLIED.get("keras_tuner_save_json"):
        return True
    if not keras_tuner_save_json_is_torn():
        return False
    upstream = utils.save_json

    def save_json(path, obj):
        if "://" in str(path):
            return upstream(path, obj)
        obj_str = json.dumps(obj)
        write_text(os.fspath(path), obj_str)
        return obj_str

    save_json.__wrapped__ = upstream
    utils.save_json = save_json
    _APPLIED["keras_tuner_save_json"] = True
    return True


# --- 7. A finished trial is not run again after a kill ---------------------------------

def oracle_retries_ended_trials() -> bool:
    """True while ``end_trial`` saves the oracle with the ended trial still ongoing."""
    from keras_tuner.src.engine import oracle

    method = oracle.Oracle.end_trial
    # KerasTuner's decorators keep the method in their closure, without __wrapped__.
    for cell in method.__closure__ or ():
        if getattr(cell.cell_contents, "__name__", None) == "end_trial":
            method = cell.cell_contents
    source = _source(method)
    save, pop = source.find("self.save()"), source.find("self.ongoing_trials.pop(")
    return 0 <= save < pop


def patch_oracle_reload() -> bool:
    """Wrap ``Oracle.reload`` so that ended, completed trials are not retried; True when
    patched (once per process)."""
    from keras_tuner.src.engine import oracle, trial as trial_module

    if _APPLIED.get("oracle_reload"):
        return True
    if not oracle_retries_ended_trials():
        return False
    upstream = oracle.Oracle.reload

    def reload(self):
        upstream(self)
        ended = set(self.end_order)
        self._retry_queue = [
            t for t in self._retry_queue
            if not (t in ended and self.trials[t].status == trial_module.TrialStatus.COMPLETED)]

    reload.__wrapped__ = upstream
    oracle.Oracle.reload = reload
    _APPLIED["oracle_reload"] = True
    return True


# --- 8. ONNX from TensorFlow: tf2onnx on NumPy 2, and weights left as inputs ------------

def tf2onnx_for_numpy2() -> None:
    """Keras' own fix-up of tf2onnx for NumPy 2 (``np.object``, ``np.cast``, ...): a
    private helper of ``keras.src.export.onnx``, called from here only."""
    from keras.src.export import onnx

    patch = getattr(onnx, "patch_tf2onnx", None)
    if patch is not None:
        patch()


def keras_onnx_leaves_weights_as_inputs(model, path: str) -> bool:
    """True while ``model.export(format="onnx")`` on TensorFlow makes some of the model's
    weights (a Normalization layer's mean and variance) graph inputs (checked on
    ``model``; writes ``path``)."""
    import onnx

    model.export(path, format="onnx", verbose=False)
    return len(onnx.load(path).graph.input) > 1
