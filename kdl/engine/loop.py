"""The training loop: ``train_and_evaluate(recipe, workdir)``.

Builds data, model (inside the distribution strategy's scope), optimizer and schedule
from a :class:`kdl.recipes.Recipe`; trains with early stopping (best weights
restored), BackupAndRestore (a killed run resumes), TerminateOnNaN with a message,
TensorBoard and CSV logs in ``workdir``, optional :class:`kdl.callbacks.ActivationMonitor`;
evaluates on the test split and returns the metrics. Library code: it never reads argv.
"""

from __future__ import annotations

import dataclasses
import os
import time

import keras

from kdl import callbacks as kdl_callbacks
from kdl._files import atomic_path, write_json
from kdl._keras_compat import clear_initial_epoch
from kdl.engine.distribute import default_strategy, is_chief
from kdl.engine.pretrain import pretrain
from kdl.engine.regularize import apply_regularizers, initialize_data_dependent
from kdl.engine.resolve import check_recipe, resolve_for_strategy
from kdl.engine.workdir import check_resumable, lock_workdir, unlock_workdir
from kdl.optimizers import build_optimizer
from kdl.platform import (enable_determinism, jit_compile_for, provenance, set_precision,
                          tensorflow_available)
from kdl.recipes import Recipe, judge, metric_mode
from kdl.tasks import DataBundle, get_task


@dataclasses.dataclass
class TrainResult:
    recipe: Recipe
    model: keras.Model
    test_metrics: dict
    epochs_run: int
    wall_s: float
    train_s: float
    history: dict
    data: DataBundle
    pretrain_report: list | None = None
    workdir: str = ""
    provenance: dict | None = None  # kdl.provenance: written into result.json, kdl.json, the card

    def summary(self) -> dict:
        return {
            "recipe": self.recipe.name,
            "epochs_run": self.epochs_run,
            "test_metrics": self.test_metrics,
            "wall_s": round(self.wall_s, 2),
            "train_s": round(self.train_s, 2),
            "params": int(self.model.count_params()),
            "target_metric": self.recipe.target_metric,
            "target": self.recipe.target,
            "target_met": target_met(self.recipe, self.test_metrics),
        }


def target_met(recipe: Recipe, metrics: dict) -> bool | None:
    if recipe.target is None or recipe.target_metric not in metrics:
        return None
    return judge(recipe.target_metric, recipe.target, metrics[recipe.target_metric])


def prepare_data(recipe: Recipe) -> DataBundle:
    """Pipelines for ``recipe``: batches of float32 pixels in [0, 255] (ids for text)."""
    return get_task(recipe.task).prepare_data(recipe)


def build_model(recipe: Recipe, data: DataBundle) -> keras.Model:
    """The whole model: raw pixels in [0, 255] -> (resize) -> normalization -> network."""
    return get_task(recipe.task).build_model(recipe, data)


def loss_and_metrics(recipe: Recipe):
    return get_task(recipe.task).loss_and_metrics(recipe)


def compile_model(model: keras.Model, recipe: Recipe, steps_per_epoch: int,
                  replicas: int = 1) -> None:
    """Compile with the recipe's optimizer (its learning rate scaled by ``replicas`` where
    the recipe asks), loss, metrics, jit choice and steps per execution."""
    loss, metrics = loss_and_metrics(recipe)
    model.compile(optimizer=build_optimizer(recipe, steps_per_epoch, replicas), loss=loss,
                  metrics=metrics, jit_compile=jit_compile_for(recipe),
                  steps_per_execution=recipe.steps_per_execution)


def _callbacks(recipe: Recipe, workdir: str, data: DataBundle, counter, verbose: int,
               strategy=None, progress_prefix: str = "", backup: str = "backup",
               keep_backup: bool = False):
    in_sync, tensorboard, feed = [], [], []
    if tensorflow_available():
        import tensorflow as tf

        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            in_sync = [kdl_callbacks.ResumeInSync(strategy)]  # each worker has its own backup
        # TensorBoard's summaries are written by TensorFlow: where it is not installed, the
        # history (history.csv, result.json) is the record.
        tensorboard = [keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"),
                                                   write_graph=False, profile_batch=0)]
    if hasattr(getattr(data, "train", None), "epoch_callback"):  # kdl.data.ArrayFeed
        feed = [data.train.epoch_callback()]
    progress = [kdl_callbacks.epoch_progress(recipe.epochs, prefix=progress_prefix,
                                             batch_size=recipe.batch_size)] if verbose else []
    cbs = [
        *feed,
        counter,
        kdl_callbacks.TerminateOnNaN(),
        keras.callbacks.BackupAndRestore(os.path.join(workdir, backup), save_freq="epoch",
                                         delete_checkpoint=not keep_backup,
                                         double_checkpoint=True),
        *in_sync,
        *_early_stopping(recipe, verbose),
        kdl_callbacks.LearningRateLogger(),  # before the loggers and the progress line
        *progress,
        keras.callbacks.CSVLogger(os.path.join(workdir, "history.csv"), append=True),
        *tensorboard,
    ]
    if recipe.log_every_n_batches:
        cbs.insert(1 + len(feed), kdl_callbacks.BatchLossLogger(
            os.path.join(workdir, kdl_callbacks.BATCH_LOG), recipe.log_every_n_batches))
    if recipe.monitor_gradients:
        probe_x, probe_y = next(iter(data.validation))
        cbs.insert(1 + len(feed), kdl_callbacks.GradientMonitor(probe_x[:256], probe_y[:256]))
    if recipe.monitor_activations and get_task(recipe.task).classifier:
        probe = next(iter(data.validation))[0][:256]
        # Its statistics go into the epoch's logs (history.csv); to TensorBoard where it is.
        log_dir = os.path.join(workdir, "tensorboard") if tensorboard else None
        cbs.insert(1 + len(feed), kdl_callbacks.ActivationMonitor(probe, log_dir))
    return cbs


def _early_stopping(recipe: Recipe, verbose: int) -> list:
    mode = recipe.early_stopping_mode()
    if mode == "off":
        return []
    monitor = recipe.early_stopping_monitor
    # "restore_best": a patience longer than the run never stops it; the best weights
    # are restored at its end all the same.
    patience = recipe.early_stopping_patience if mode == "stop" else recipe.epochs + 1
    return [keras.callbacks.EarlyStopping(monitor=monitor, patience=patience,
                                          mode=metric_mode(monitor),
                                          restore_best_weights=True, verbose=min(verbose, 1))]


def with_test_time_flip_compiled(model: keras.Model, recipe: Recipe) -> keras.Model:
    """``model`` averaged with its left-right mirror (kdl.layers.with_test_time_flip),
    compiled with ``recipe``'s loss and metrics, ready to evaluate and export."""
    from kdl.layers import with_test_time_flip

    wrapped = with_test_time_flip(model)
    loss, metrics = loss_and_metrics(recipe)
    wrapped.compile(loss=loss, metrics=metrics, jit_compile=jit_compile_for(recipe))
    return wrapped


def _fit(model, recipe: Recipe, data: DataBundle, workdir: str, counter, verbose: int,
         strategy, progress_prefix: str, replicas: int, parent: dict | None) -> dict:
    """``model.fit`` over the recipe's epochs; with ``freeze``, the frozen layers fixed (at
    ``learning_rate * head_learning_rate_multiplier``) for the whole run or until
    ``unfreeze_epoch``, then everything at the recipe's own rate and schedule. Each phase
    has its own backup, so a killed run resumes in the phase it was in. Returns the
    history of every epoch."""
    from kdl.engine.finetune import frozen_layers, set_frozen

    frozen = frozen_layers(model, recipe, (parent or {}).get("new", ()))
    split = recipe.unfreeze_epoch if frozen else None
    phases = [(0, recipe.epochs, not frozen, "backup")]
    if frozen:
        phases = [(0, split or recipe.epochs, False, "backup_frozen" if split else "backup")]
        if split:
            phases.append((split, recipe.epochs, True, "backup"))
    history: dict = {}
    for first, last, trainable, backup in phases:
        set_frozen(frozen, not trainable)
        phase = recipe.replace(epochs=last - first, warmup_epochs=min(recipe.warmup_epochs,
                                                                       last - first))
        if not trainable:
            phase = phase.replace(learning_rate=recipe.learning_rate
                                  * recipe.head_learning_rate_multiplier)
        with strategy.scope():
            compile_model(model, phase, data.steps_per_epoch, replicas)
        # A finished first phase keeps its backup: resumed in the second, it is restored
        # (0 epochs run) instead of trained again.
        cbs = _callbacks(recipe, workdir, data, counter, verbose, strategy, progress_prefix,
                         backup=backup, keep_backup=len(phases) > 1 and backup != "backup")
        clear_initial_epoch(model)  # what a resumed first phase restored is not this phase's
        fitted = model.fit(data.train, validation_data=data.validation, epochs=last,
                           initial_epoch=first, callbacks=cbs, shuffle=False,  # the pipeline shuffles
                           verbose=0)  # EpochProgress prints
        for key, values in fitted.history.items():
            history.setdefault(key, []).extend(values)
    if len(phases) > 1:
        import shutil

        shutil.rmtree(os.path.join(workdir, "backup_frozen"), ignore_errors=True)
    return history


def train_and_evaluate(recipe: Recipe, workdir: str, *, strategy=None,
                       verbose: int = 1, progress_prefix: str = "") -> TrainResult:
    """Train ``recipe`` in ``workdir`` (logs, backup, final model) and evaluate on test.

    ``verbose=1``: one line per epoch (:class:`kdl.callbacks.EpochProgress`); 0: silent.
    The workdir is held for the run (:func:`kdl.workdir.lock_workdir`): a second run on it
    raises :class:`kdl.workdir.WorkdirInUseError` before anything is written.
    """
    check_recipe(recipe)
    lock_workdir(workdir)
    try:
        return _train_and_evaluate(recipe, workdir, strategy, verbose, progress_prefix)
    finally:
        unlock_workdir(workdir)


def _train_and_evaluate(recipe: Recipe, workdir: str, strategy, verbose: int,
                        progress_prefix: str) -> TrainResult:
    start = time.perf_counter()
    if recipe.deterministic:
        enable_determinism()  # before anything can start JAX's backends
    strategy = strategy or default_strategy()
    replicas = strategy.num_replicas_in_sync
    # The recipe as it will run, resolved once before anything is written: recipe.json,
    # the result, the export and the card all record this one.
    recipe = resolve_for_strategy(recipe, strategy)
    record = provenance(recipe)
    resuming = check_resumable(recipe, workdir)
    keras.utils.set_random_seed(recipe.seed)
    data = prepare_data(recipe)
    record = {**record, "data_fingerprint": data.fingerprint}  # which files or arrays, how split
    set_precision(recipe.precision)
    parent = None
    try:
        with strategy.scope():
            model = build_model(recipe, data)
            apply_regularizers(model, recipe)
            if recipe.init_from is not None:
                from kdl.engine.finetune import initialize_from

                parent, line = initialize_from(model, recipe, data.class_names)
                record = {**record, "parent": parent}
                if verbose:
                    print(f"init_from {recipe.init_from}: {line}", flush=True)
        if not resuming and recipe.init_from is None:
            initialize_data_dependent(model, data)
        pretrain_report = None if resuming or recipe.init_from else \
            pretrain(model, recipe, data, verbose)
        counter = kdl_callbacks.EpochCounter()
        train_start = time.perf_counter()
        history = _fit(model, recipe, data, workdir, counter, verbose, strategy,
                       progress_prefix, replicas, parent)
        train_s = time.perf_counter() - train_start
        if recipe.test_time_flip:
            with strategy.scope():
                model = with_test_time_flip_compiled(model, recipe)
        results = model.evaluate(data.test, verbose=0, return_dict=True)
    finally:
        set_precision("float32")
    test_metrics = get_task(recipe.task).finish_metrics(
        {k: float(v) for k, v in results.items()})
    result = TrainResult(recipe, model, test_metrics, counter.epochs_done or recipe.epochs,
                         time.perf_counter() - start, train_s, history, data,
                         pretrain_report, workdir, record)
    if is_chief():
        with atomic_path(os.path.join(workdir, "model.keras")) as tmp:
            model.save(tmp)
        write_json(os.path.join(workdir, "result.json"),
                   {**result.summary(), **record, "pretrain": pretrain_report,
                    "class_names": [str(c) for c in data.class_names]
                    if get_task(recipe.task).classifier else None,
                    "epoch_seconds": counter.epoch_seconds}, default=str)
    return result
