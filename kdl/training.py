"""The training engine: ``train_and_evaluate(recipe, workdir)``.

Builds data, model (inside the distribution strategy's scope), optimizer and schedule
from a :class:`kdl.recipes.Recipe`; trains with early stopping (best weights
restored), BackupAndRestore (a killed run resumes), TerminateOnNaN with a message,
TensorBoard and CSV logs in ``workdir``, optional :class:`kdl.callbacks.ActivationMonitor`;
evaluates on the test split and returns the metrics. Library code: it never reads argv.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import time
from collections.abc import Callable

import keras
import numpy as np

from kdl import callbacks as kdl_callbacks
from kdl._keras_compat import use_single_pass_weight_decay, weight_decay_is_multi_pass  # noqa: F401
from kdl.losses import SparseCategoricalCrossentropyWithSmoothing  # noqa: F401
from kdl.optimizers import OPTIMIZERS, SCHEDULES, build_optimizer  # noqa: F401
from kdl.tasks import DataBundle, get_task
from kdl.recipes import EARLY_STOPPING, Recipe

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


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
    activation_history: list | None = None
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
    from kdl.cards import judge

    return judge(recipe.target_metric, recipe.target, metrics[recipe.target_metric])


def check_recipe(recipe: Recipe) -> None:
    """Validate what the engine relies on, with the value received."""
    from kdl.models import list_models
    from kdl.models._registry import unknown_name_message

    for key in ("epochs", "batch_size"):
        value = getattr(recipe, key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{key}` must be a positive integer. Received: {key}={value!r}")
    for field, choices in (("model", list_models()), ("optimizer", OPTIMIZERS),
                           ("schedule", SCHEDULES), ("precision", PRECISIONS)):
        if getattr(recipe, field) not in choices:
            raise ValueError(unknown_name_message(field, getattr(recipe, field), choices,
                                                  received=field))
    if not recipe.learning_rate > 0:
        raise ValueError(f"`learning_rate` must be positive. Received: learning_rate={recipe.learning_rate!r}")
    get_task(recipe.task)  # an unknown task is named with its close matches
    if recipe.test_time_flip and not get_task(recipe.task).classifier:
        raise ValueError("`test_time_flip` applies to image classification only. "
                         f"Received: test_time_flip=True with task={recipe.task!r}")
    for key in ("l1", "l2", "activity_l1", "weight_decay"):
        value = getattr(recipe, key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"`{key}` must be a number >= 0. Received: {key}={value!r}")
    for key in ("clipnorm", "clipvalue"):
        value = getattr(recipe, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or value <= 0):
            raise ValueError(f"`{key}` must be None or a positive number. Received: {key}={value!r}")
    if recipe.clipnorm is not None and recipe.clipvalue is not None:
        raise ValueError("Clip gradients by norm or by value, not both. Received: "
                         f"clipnorm={recipe.clipnorm!r}, clipvalue={recipe.clipvalue!r}")
    if recipe.ema is not None and not 0 < recipe.ema < 1:
        raise ValueError(f"`ema` must be None or a momentum in (0, 1). Received: ema={recipe.ema!r}")
    if recipe.early_stopping not in EARLY_STOPPING:
        raise ValueError(unknown_name_message("early_stopping", recipe.early_stopping,
                                              EARLY_STOPPING, received="early_stopping"))
    if recipe.normalization not in (None, "channel", "pixel", "scale"):
        raise ValueError("`normalization` must be channel, pixel, scale or None. "
                         f"Received: normalization={recipe.normalization!r}")


# --- data -------------------------------------------------------------------------------

def check_data(recipe: Recipe) -> None:
    """Raise :class:`kdl.data.DataNotFoundError` (how to get it) when the recipe's data
    cannot be had; before anything of a run is written."""
    get_task(recipe.task).check_data(recipe)


def prepare_data(recipe: Recipe, num_replicas: int = 1) -> DataBundle:
    """Pipelines for ``recipe``: batches of float32 pixels in [0, 255] (ids for text)."""
    return get_task(recipe.task).prepare_data(recipe, num_replicas)


# --- model, optimizer -------------------------------------------------------------------

def build_model(recipe: Recipe, data: DataBundle) -> keras.Model:
    """The whole model: raw pixels in [0, 255] -> (resize) -> normalization -> network."""
    return get_task(recipe.task).build_model(recipe, data)


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def apply_regularizers(model: keras.Model, recipe: Recipe) -> int:
    """The course's penalties, added to the loss: ``l1`` and ``l2`` on every Dense and
    Conv kernel (not biases), ``activity_l1`` on every hidden layer's output ("sparse
    features"). Set on the layers, so they are saved in ``.keras`` and reload with the
    model. Returns how many layers got one."""
    count = 0
    kernel_reg = keras.regularizers.L1L2(l1=recipe.l1, l2=recipe.l2) \
        if recipe.l1 or recipe.l2 else None
    activity_reg = keras.regularizers.L1(recipe.activity_l1) if recipe.activity_l1 else None
    for layer in _all_layers(model):
        if kernel_reg is not None and isinstance(getattr(layer, "kernel", None), keras.Variable) \
                and hasattr(layer, "kernel_regularizer"):
            layer.kernel_regularizer = kernel_reg
            layer.kernel.regularizer = kernel_reg
            count += 1
        activation = getattr(layer, "activation", None)
        if activity_reg is not None and layer.name != "predictions" and activation is not None \
                and getattr(activation, "__name__", "") not in ("linear", "softmax"):
            layer.activity_regularizer = activity_reg
            count += 1
    return count


def initialize_data_dependent(model: keras.Model, data: DataBundle) -> int:
    """Weight normalization's data-dependent init (Salimans and Kingma 2016, section 3)
    on the first training batch, for every ``WeightNormalization(data_init=True)`` layer.
    Returns how many layers were initialized."""
    from kdl.layers import WeightNormalization, initialize_weight_norm

    if not any(isinstance(layer, WeightNormalization) and layer.data_init
               for layer in _all_layers(model)):
        return 0
    x = next(iter(data.train))[0]
    return initialize_weight_norm(model, x)


def loss_and_metrics(recipe: Recipe):
    return get_task(recipe.task).loss_and_metrics(recipe)


def jit_compile_for(recipe: Recipe) -> bool | str:
    """``recipe.jit_compile``, or where it is None the choice for the backend: on JAX on
    (without ``jax.jit`` Keras runs JAX op by op: the MLP recipe trained 17x slower here);
    on TensorFlow off on a CPU-only machine (XLA was slower on this CPU for the recipes
    tried) and Keras' "auto" where there is a GPU (not measured by kdl); on PyTorch off
    (eager, as Keras' "auto"; torch.compile not measured). README: Performance."""
    if recipe.jit_compile is not None:
        return recipe.jit_compile
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return "auto" if tf.config.list_physical_devices("GPU") else False
    return backend == "jax"


def _cpu_flags() -> set[str]:
    from kdl.provenance import cpu_info

    return cpu_info()["flags"]


def _gpu_capabilities() -> list[tuple[int, int]]:
    """The compute capabilities of the GPUs that the running Keras backend sees
    (best effort: [] when it sees none or cannot say)."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            details = (tf.config.experimental.get_device_details(gpu)
                       for gpu in tf.config.list_physical_devices("GPU"))
            return [tuple(d["compute_capability"]) for d in details
                    if d.get("compute_capability")]
        if backend == "jax":
            import jax

            return [tuple(int(p) for p in str(d.compute_capability).split(".")[:2])
                    for d in jax.devices()
                    if d.platform == "gpu" and getattr(d, "compute_capability", None)]
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return [tuple(torch.cuda.get_device_capability(i))
                        for i in range(torch.cuda.device_count())]
    except Exception:  # a device query is never a reason to fail a run
        return []
    return []


def precision_for(recipe: Recipe) -> str:
    """``recipe.precision``, or where it is "auto" the policy that trains faster here:
    ``mixed_bfloat16`` on a CPU with AMX tiles (``amx_bf16``) or where the backend
    sees a GPU of compute capability 8.0 or more, else ``float32``.

    Measured with ``benchmarks/mixed_precision.py`` (ResNet-20, batch 128): bfloat16 ran
    1.30x float32 on an Intel Xeon with AMX, and 0.78x on an Intel Xeon with
    AVX512-BF16 but no AMX (README: Performance). The GPU rule is Keras' mixed-precision
    guide's, not a kdl measurement."""
    if recipe.precision != "auto":
        return recipe.precision
    if "amx_bf16" in _cpu_flags():
        return "mixed_bfloat16"
    if any(capability >= (8, 0) for capability in _gpu_capabilities()):
        return "mixed_bfloat16"
    return "float32"


JAX_DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"


def enable_determinism(backend: str | None = None) -> None:
    """Op determinism for a run: TensorFlow's (its ops feed every backend's input
    pipeline) and the training backend's (``backend``, default the running one).

    - TensorFlow: ``tf.config.experimental.enable_op_determinism()``.
    - PyTorch: ``torch.use_deterministic_algorithms(True)``, cuDNN's benchmark mode off
      and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (PyTorch's reproducibility notes).
    - JAX: XLA's ``--xla_gpu_deterministic_ops=true``, which XLA reads once, when JAX
      starts its backends; it is added to ``XLA_FLAGS`` if they have not started. If
      they have, on a GPU without the flag this raises (the run could not keep its
      promise); on CPUs, XLA's kernels give one result per input already.

    Irreversible for the process: ops without a deterministic kernel then raise."""
    import tensorflow as tf

    backend = backend or keras.backend.backend()
    tf.config.experimental.enable_op_determinism()
    if backend == "torch":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        import torch

        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        if JAX_DETERMINISTIC_FLAG.split("=")[0] in flags:
            return
        if not _jax_backends_started():
            os.environ["XLA_FLAGS"] = f"{flags} {JAX_DETERMINISTIC_FLAG}".strip()
            return
        import jax

        if jax.default_backend() != "cpu":
            raise ValueError(
                f"deterministic runs on JAX's {jax.default_backend()} need XLA_FLAGS="
                f"{JAX_DETERMINISTIC_FLAG} before JAX starts (kdl train --deterministic sets "
                f"it). Received: XLA_FLAGS={flags!r} with JAX already started")


def _jax_backends_started() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:  # JAX's private module moved: assume started, the safe side
        return True
    return bool(xla_bridge.backends_are_initialized())


def compile_model(model: keras.Model, recipe: Recipe, steps_per_epoch: int,
                  num_replicas: int = 1) -> None:
    loss, metrics = loss_and_metrics(recipe)
    model.compile(optimizer=build_optimizer(recipe, steps_per_epoch, num_replicas), loss=loss,
                  metrics=metrics, jit_compile=jit_compile_for(recipe),
                  steps_per_execution=recipe.steps_per_execution)


# --- pretraining steps (registry) ---------------------------------------------------------

def _pretrain_sdae(model, recipe, data: DataBundle, verbose: int = 0) -> list:
    from kdl.models import pretrain_stacked_denoising_autoencoder
    from kdl.models.sdae import hidden_layers

    if data.train_arrays is None:
        raise ValueError("SDAE pretraining needs in-memory training data. "
                         f"Received: data={recipe.data!r}")
    x = data.train_arrays[0].astype("float32") / 255.0
    args = {k: v for k, v in recipe.pretrain.items() if k != "kind"}
    # One progress line per pretraining epoch, counted over all layers (for the ETA).
    total = len(hidden_layers(model)) * int(args.get("epochs_per_layer", 3))
    progress = kdl_callbacks.EpochProgress(total, prefix="pretraining ", running_count=True) \
        if verbose else None
    return pretrain_stacked_denoising_autoencoder(model, x, seed=recipe.seed,
                                                  callbacks=[progress] if progress else None,
                                                  **args)


PRETRAINING: dict[str, Callable] = {"sdae": _pretrain_sdae}


# --- the loop ---------------------------------------------------------------------------

def _callbacks(recipe: Recipe, workdir: str, data: DataBundle, counter, verbose: int,
               strategy=None, progress_prefix: str = ""):
    import tensorflow as tf

    in_sync = []
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        in_sync = [kdl_callbacks.ResumeInSync(strategy)]  # each worker has its own backup
    progress = [kdl_callbacks.EpochProgress(recipe.epochs, prefix=progress_prefix)] \
        if verbose else []
    cbs = [
        counter,
        kdl_callbacks.TerminateOnNaN(),
        keras.callbacks.BackupAndRestore(os.path.join(workdir, "backup"), save_freq="epoch",
                                         delete_checkpoint=True, double_checkpoint=True),
        *in_sync,
        *_early_stopping(recipe, verbose),
        kdl_callbacks.LearningRateLogger(),  # before the loggers and the progress line
        *progress,
        keras.callbacks.CSVLogger(os.path.join(workdir, "history.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"), write_graph=False,
                                    profile_batch=0),
    ]
    if recipe.monitor_activations and get_task(recipe.task).classifier:
        probe = next(iter(data.validation))[0][:256]
        cbs.insert(1, kdl_callbacks.ActivationMonitor(probe, os.path.join(workdir, "tensorboard")))
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
                                          mode="max" if "acc" in monitor else "min",
                                          restore_best_weights=True, verbose=min(verbose, 1))]


def with_test_time_flip_compiled(model: keras.Model, recipe: Recipe) -> keras.Model:
    """``model`` averaged with its left-right mirror (kdl.layers.with_test_time_flip),
    compiled with ``recipe``'s loss and metrics, ready to evaluate and export."""
    from kdl.layers import with_test_time_flip

    wrapped = with_test_time_flip(model)
    loss, metrics = loss_and_metrics(recipe)
    wrapped.compile(loss=loss, metrics=metrics, jit_compile=jit_compile_for(recipe))
    return wrapped


class WorkdirMismatchError(ValueError):
    """The workdir holds a backup of a run with another configuration."""


def _check_resumable(recipe: Recipe, workdir: str) -> bool:
    """True when ``workdir`` has a backup to resume from, of this very configuration.

    The run's configuration is kept in ``workdir/recipe.json``; resuming from a backup of
    another configuration would fail deep inside Keras (weights of other shapes) or,
    worse, silently continue a different run.
    """
    path = os.path.join(workdir, "recipe.json")
    config = json.loads(json.dumps(recipe.to_dict(), default=str))
    resuming = os.path.isdir(os.path.join(workdir, "backup"))
    if resuming and os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        differs = sorted(k for k in set(config) | set(saved) if config.get(k) != saved.get(k))
        if differs:
            raise WorkdirMismatchError(
                f"{workdir} holds an interrupted run of another configuration (it differs in "
                f"{', '.join(differs)}): resume it with the same settings, or use another "
                f"--workdir. Received: " + ", ".join(f"{k}={config.get(k)!r}" for k in differs))
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(config, f, indent=2)
    os.replace(tmp, path)
    return resuming


def set_precision(precision: str) -> None:
    keras.mixed_precision.set_global_policy(precision)


def train_and_evaluate(recipe: Recipe, workdir: str, *, strategy=None,
                       verbose: int = 1, progress_prefix: str = "") -> TrainResult:
    """Train ``recipe`` in ``workdir`` (logs, backup, final model) and evaluate on test.

    ``verbose=1``: one line per epoch (:class:`kdl.callbacks.EpochProgress`); 0: silent.
    The workdir is held for the run (:func:`kdl.workdir.lock_workdir`): a second run on it
    raises :class:`kdl.workdir.WorkdirInUseError` before anything is written.
    """
    from kdl.workdir import lock_workdir, unlock_workdir

    check_recipe(recipe)
    lock_workdir(workdir)
    try:
        return _train_and_evaluate(recipe, workdir, strategy, verbose, progress_prefix)
    finally:
        unlock_workdir(workdir)


def resolve_for_strategy(recipe: Recipe, strategy) -> Recipe:
    """``recipe`` with what ``strategy`` (or the Keras backend) cannot run replaced by what it can."""
    import tensorflow as tf

    # Recorded as they run.
    recipe = recipe.replace(jit_compile=jit_compile_for(recipe), precision=precision_for(recipe))
    if recipe.steps_per_execution > 1 and keras.backend.backend() == "torch":
        return recipe.replace(steps_per_execution=1)  # Keras' torch trainer runs one step a call
    if recipe.steps_per_execution > 1 and (
            strategy.num_replicas_in_sync > 1
            or isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)):
        # Keras' multi-step loop fails under MultiWorkerMirroredStrategy ("while/cond/
        # Placeholder" InvalidArgumentError, seen here); distributed runs take one step a call.
        return recipe.replace(steps_per_execution=1)
    return recipe


def _train_and_evaluate(recipe: Recipe, workdir: str, strategy, verbose: int,
                        progress_prefix: str) -> TrainResult:
    import tensorflow as tf

    start = time.perf_counter()
    if recipe.deterministic:
        enable_determinism()  # before anything can start JAX's backends
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    # The recipe as it will run, resolved once before anything is written: recipe.json,
    # the result, the export and the card all record this one.
    recipe = resolve_for_strategy(recipe, strategy)
    from kdl.provenance import provenance

    record = provenance(recipe)
    resuming = _check_resumable(recipe, workdir)
    keras.utils.set_random_seed(recipe.seed)
    data = prepare_data(recipe, replicas)
    set_precision(recipe.precision)
    try:
        with strategy.scope():
            model = build_model(recipe, data)
            apply_regularizers(model, recipe)
            compile_model(model, recipe, data.steps_per_epoch, replicas)
        if not resuming:
            initialize_data_dependent(model, data)
        pretrain_report = None
        if recipe.pretrain and not resuming:
            pretrain_report = PRETRAINING[recipe.pretrain.get("kind", "sdae")](
                model, recipe, data, verbose)
        counter = kdl_callbacks.EpochCounter()
        cbs = _callbacks(recipe, workdir, data, counter, verbose, strategy, progress_prefix)
        train_start = time.perf_counter()
        history = model.fit(data.train, validation_data=data.validation, epochs=recipe.epochs,
                            callbacks=cbs, shuffle=False,  # the pipeline shuffles
                            verbose=0)  # EpochProgress prints
        train_s = time.perf_counter() - train_start
        if recipe.test_time_flip:
            with strategy.scope():
                model = with_test_time_flip_compiled(model, recipe)
        results = model.evaluate(data.test, verbose=0, return_dict=True)
    finally:
        set_precision("float32")
    test_metrics = get_task(recipe.task).finish_metrics(
        {k: float(v) for k, v in results.items()})
    monitor = next((c for c in cbs if isinstance(c, kdl_callbacks.ActivationMonitor)), None)
    result = TrainResult(recipe, model, test_metrics, counter.epochs_done or recipe.epochs,
                         time.perf_counter() - start, train_s, dict(history.history), data,
                         pretrain_report, monitor.history if monitor else None, workdir, record)
    from kdl.distribute import is_chief

    if is_chief():
        model.save(os.path.join(workdir, "model.keras"))
        with open(os.path.join(workdir, "result.json"), "w") as f:
            json.dump({**result.summary(), **record, "pretrain": pretrain_report,
                       "epoch_seconds": counter.epoch_seconds}, f, indent=2, default=str)
    return result


# --- sanity mode: overfit a small batch ----------------------------------------------------

def initial_loss_verdict(loss: float, classes: int, tolerance: float = 0.25) -> bool:
    """Whether an untrained classifier's cross-entropy is near log(classes), as it is
    when its predictions start near uniform (within ``tolerance`` x log(classes))."""
    expected = math.log(classes)
    return abs(loss - expected) <= tolerance * expected


class _StopBelowLoss(keras.callbacks.Callback):
    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def on_epoch_end(self, epoch, logs=None):
        if (logs or {}).get("loss", math.inf) < self.threshold:
            self.model.stop_training = True


def _training_mode_loss(model: keras.Model, x: np.ndarray, y: np.ndarray, batch: int) -> float:
    """The loss the optimizer drove down: batch statistics in batch norm, as in training
    (moving averages lag far behind after a few dozen steps on a few examples)."""
    total = 0.0
    for start in range(0, len(x), batch):
        xb, yb = x[start:start + batch], y[start:start + batch]
        loss = model.compute_loss(x=xb, y=yb, y_pred=model(xb, training=True), training=True)
        total += float(keras.ops.convert_to_numpy(loss)) * len(xb)
    return total / len(x)


def overfit_small_batch(recipe: Recipe, examples: int, *, max_steps: int = 2000,
                        threshold: float = 0.01) -> dict:
    """The course's first debugging step: train on ``examples`` training images alone,
    with augmentation, penalties, dropout, weight averaging and early stopping off, until
    the training loss is below ``threshold`` (or ``max_steps`` updates). A network that
    cannot memorize a handful of examples has a bug. The final loss is measured in
    training mode (batch norm on batch statistics). Also checks the untrained loss
    against log(classes). Writes nothing; returns the numbers and both verdicts."""
    if not get_task(recipe.task).classifier:
        raise ValueError("Overfitting a small batch checks classifiers. "
                         f"Received: task={recipe.task!r}")
    if isinstance(examples, bool) or not isinstance(examples, int) or examples <= 0:
        raise ValueError(f"`examples` must be a positive integer. Received: examples={examples!r}")
    from kdl.models._registry import get_model_builder

    fn = get_model_builder(recipe.model)
    params = set(inspect.signature(getattr(fn, "__wrapped__", fn)).parameters)
    model_args = {**recipe.model_args, **({"dropout": 0.0} if "dropout" in params else {})}
    batch = min(examples, recipe.batch_size)
    r = recipe.replace(max_train_examples=examples, augmentation={}, weight_decay=0.0, l1=0.0,
                       l2=0.0, activity_l1=0.0, ema=None, label_smoothing=0.0,
                       early_stopping="off", schedule="constant", test_time_flip=False,
                       monitor_activations=False, steps_per_execution=1, batch_size=batch,
                       model_args=model_args)
    check_recipe(r)
    keras.utils.set_random_seed(r.seed)
    data = prepare_data(r)
    x, y = [], []
    for images, labels in data.train:
        x.append(images.numpy())
        y.append(labels.numpy())
    x, y = np.concatenate(x)[:examples], np.concatenate(y)[:examples]
    model = build_model(r, data)
    steps_per_epoch = -(-len(x) // batch)
    compile_model(model, r, steps_per_epoch)
    initial = float(model.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True)["loss"])
    history = model.fit(x, y, batch_size=batch, epochs=max(1, max_steps // steps_per_epoch),
                        shuffle=True, verbose=0, callbacks=[_StopBelowLoss(threshold)])
    final = _training_mode_loss(model, x, y, batch)
    classes = data.num_classes
    return {"recipe": recipe.name, "examples": int(len(x)), "initial_loss": initial,
            "expected_initial_loss": math.log(classes),
            "initial_loss_ok": initial_loss_verdict(initial, classes),
            "final_loss": final, "threshold": threshold,
            "steps": len(history.history["loss"]) * steps_per_epoch,
            "steps_per_epoch": steps_per_epoch,
            "loss_curve": [float(v) for v in history.history["loss"]],
            "reached": final < threshold}
