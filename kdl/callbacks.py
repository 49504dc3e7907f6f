"""Callbacks of the course that Keras does not ship.

- :class:`ActivationMonitor` ("monitor hidden units"): per layer, the fraction of dead
  ReLU units, the fraction of saturated sigmoid/tanh units, and the mean and std of
  activations, on a fixed probe batch at each epoch's end; into the logs (so CSVLogger
  and the History get them) and TensorBoard.
- :class:`GradientMonitor` ("watch the gradients"): per layer with a kernel, the norm of
  the loss's gradient with respect to it and the update ratio (learning rate times that
  norm over the kernel's norm: the course's ~1e-3 rule of thumb for SGD), on a fixed probe
  batch before training and at each epoch's end; into the logs. On TensorFlow, JAX and
  PyTorch alike (each backend's own differentiation: Keras has no backend-neutral one).
- :class:`TerminateOnNaN`: Keras' one stops silently; this one says which batch and
  what to try.
- :class:`EpochCounter`: the absolute number of epochs done, across a resume.
- :class:`BatchLossLogger` (the recipe field ``log_every_n_batches``): the training loss
  of every n batches, against the update step and the seconds of training, into
  ``batches.csv``. Keras' batch-end logs hold the epoch's running mean, not the batch's
  loss; this recovers each window's own mean from them, and a resumed run drops the rows
  of the epochs it trains again. :func:`read_batch_log` reads it back.
- :class:`EpochProgress`: one short line per epoch that a person reads: the loss, the
  metrics and their validation forms, the learning rate, the epoch's time and an ETA.
  Keras' ``verbose=2`` line prints every log key (hidden-unit statistics included) and
  no ETA. :class:`LearningRateLogger` puts ``learning_rate`` into the logs.
- :class:`ResumeInSync`: under MultiWorkerMirroredStrategy, makes every worker resume
  from the same backup. Keras' BackupAndRestore restores each worker from its own files;
  a worker killed just before writing its backup comes back an epoch behind its peers,
  and the workers' collectives no longer match (a crash or a hang). Neither Keras nor
  TensorFlow's tf.distribute reconciles this in Keras 3.

Early stopping, BackupAndRestore, CSV and TensorBoard logs are Keras' own.
"""

from __future__ import annotations

import math
import os
import sys

import keras
import numpy as np

from kdl._keras_compat import get_initial_epoch, set_initial_epoch

# Bounded activations: the fraction of activations within 2% of either bound is "saturated".
_SATURATING = {"sigmoid": (0.02, 0.98), "hard_sigmoid": (0.02, 0.98), "tanh": (-0.98, 0.98),
               "hard_tanh": (-0.98, 0.98), "softsign": (-0.98, 0.98), "relu6": (None, 5.88)}
# Rectifiers: a unit is "dead" when it never exceeds this on the probe (softplus is never 0).
_RECTIFIED = {"relu": 0.0, "relu6": 0.0, "leaky_relu": 0.0, "elu": 0.0, "selu": 0.0,
              "celu": 0.0, "gelu": 0.0, "silu": 0.0, "swish": 0.0, "hard_silu": 0.0,
              "hard_swish": 0.0, "mish": 0.0, "softplus": 0.01}
_LAYER_ACTIVATIONS = {"LeakyReLU": "leaky_relu", "PReLU": "leaky_relu", "ELU": "elu"}
_CORRELATION_ROWS = 4096  # positions x examples used for the unit-unit correlation


def _activation_name(layer) -> str | None:
    if isinstance(layer, keras.layers.ReLU):
        return "relu6" if getattr(layer, "max_value", None) == 6 else "relu"
    if type(layer).__name__ in _LAYER_ACTIVATIONS:
        return _LAYER_ACTIVATIONS[type(layer).__name__]
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    return getattr(act, "__name__", None) or str(act)


def mean_abs_correlation(units: np.ndarray) -> float:
    """Mean |Pearson correlation| over pairs of units (columns) that vary on the probe;
    0 for fewer than two such units. Low is good: units that carry different features."""
    live = units[:, units.std(axis=0) > 1e-8]
    if live.shape[1] < 2:
        return 0.0
    c = np.corrcoef(live, rowvar=False)
    off = c[~np.eye(len(c), dtype=bool)]
    return float(np.mean(np.abs(off)))


def activation_statistics(name: str, a: np.ndarray) -> dict[str, float]:
    """The statistics :class:`ActivationMonitor` logs for one layer's activations ``a``
    (last axis: units), under activation ``name``."""
    a = np.asarray(a, dtype="float64")
    units = a.reshape(-1, a.shape[-1])
    stats = {"mean": float(a.mean()), "std": float(a.std())}
    nonfinite = float(np.mean(~np.isfinite(a)))
    if nonfinite:  # a diverged layer: its units are neither dead nor saturated, but unknown
        stats["nonfinite"] = nonfinite
        stats.update({k: float("nan") for k, table in (("dead", _RECTIFIED),
                                                       ("saturated", _SATURATING))
                      if name in table})
        stats["corr"] = float("nan")
        return stats
    if name in _RECTIFIED:
        stats["dead"] = float(np.mean(np.all(units <= _RECTIFIED[name], axis=0)))
    if name in _SATURATING:
        lo, hi = _SATURATING[name]
        saturated = a >= hi if lo is None else (a <= lo) | (a >= hi)
        stats["saturated"] = float(np.mean(saturated))
    stats["corr"] = mean_abs_correlation(units[:_CORRELATION_ROWS])
    return stats


class ActivationMonitor(keras.callbacks.Callback):
    """Log hidden-unit statistics per monitored layer, before the first update and at the
    end of each epoch ("monitor hidden units").

    Args:
        probe: a batch of inputs (as the model takes them) to measure on.
        log_dir: where to write TensorBoard scalars (optional; step 0 is before training,
            step k after epoch k).
        every: measure every ``every`` epochs.

    Logged keys, per layer L with a rectifier or a bounded activation: ``act/L/mean``,
    ``act/L/std``, ``act/L/corr`` (mean absolute correlation between the layer's units:
    the course's "good: uncorrelated"), ``act/L/dead`` (rectifiers: fraction of units
    never active on the probe) and ``act/L/saturated`` (bounded activations: fraction of
    activations within 2% of a bound). ``history[0]`` (``epoch == -1``) is the pass
    before any update. A layer with NaN or infinite activations (a diverged fit) logs
    ``act/L/nonfinite`` (their fraction) and NaN for dead, saturated and corr: its units
    are not counted alive.
    """

    def __init__(self, probe, log_dir: str | None = None, every: int = 1):
        super().__init__()
        self.probe = probe
        self.log_dir = log_dir
        self.every = every
        self.history: list[dict] = []
        self._writer = None
        self._probe_model = None
        self._monitored_layers = None

    def _monitored(self):
        found = []
        for layer in self.model.layers:
            name = _activation_name(layer)
            if layer.name == "predictions" or name is None:
                continue
            if name in _RECTIFIED or name in _SATURATING:
                found.append((layer, name))
        return found

    def measure(self) -> dict[str, float]:
        if self._monitored_layers is None:  # built once: the layers share the model's weights
            self._monitored_layers = self._monitored()
            if self._monitored_layers:
                inputs = self.model.inputs[0] if len(self.model.inputs) == 1 else self.model.inputs
                self._probe_model = keras.Model(
                    inputs, [layer.output for layer, _ in self._monitored_layers])
        monitored = self._monitored_layers
        if not monitored:
            return {}
        outputs = self._probe_model(self.probe, training=False)
        if not isinstance(outputs, list | tuple):
            outputs = [outputs]
        stats = {}
        for (layer, name), out in zip(monitored, outputs, strict=True):
            for key, value in activation_statistics(name, keras.ops.convert_to_numpy(out)).items():
                stats[f"act/{layer.name}/{key}"] = value
        return stats

    def _write(self, stats: dict, step: int) -> None:
        if not self.log_dir:
            return
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "activations"))
        with self._writer.as_default():
            for key, value in stats.items():
                tf.summary.scalar(key, value, step=step)
        self._writer.flush()

    def on_train_begin(self, logs=None):
        if self.history and self.history[0]["epoch"] == -1:
            return
        stats = self.measure()
        self.history.insert(0, {"epoch": -1, **stats})
        self._write(stats, 0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        stats = self.measure()
        self.history.append({"epoch": epoch, **stats})
        if logs is not None:
            logs.update(stats)
        self._write(stats, epoch + 1)


def loss_gradients(model, x, y) -> list:
    """The gradient of ``model``'s compiled loss on ``(x, y)`` (training mode) with respect
    to each of its trainable variables, as numpy arrays, by the running backend's own
    differentiation. Nothing of the model changes."""
    backend = keras.backend.backend()
    variables = model.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = model.compute_loss(x, y, model(x, training=True), training=True)
        grads = tape.gradient(loss, variables)
    elif backend == "jax":
        import jax

        optimizer = [v.value for v in model.optimizer.variables] if model.optimizer else None

        def loss_of(trainable):
            _, (loss, *_) = model.compute_loss_and_updates(
                trainable, [v.value for v in model.non_trainable_variables],
                [v.value for v in model.metrics_variables], x, y, None, training=True,
                optimizer_variables=optimizer)
            return loss  # unscaled: a mixed-precision loss scale is not the gradient's

        grads = jax.grad(loss_of)([v.value for v in variables])
    elif backend == "torch":
        for v in variables:
            v.value.grad = None
        model.compute_loss(x, y, model(x, training=True), training=True).backward()
        grads = [v.value.grad for v in variables]
        for v in variables:  # Keras' step starts from zero gradients: leave none behind
            v.value.grad = None
    else:
        raise NotImplementedError(f"GradientMonitor: no gradients on backend {backend!r}")
    return [np.zeros(v.shape) if g is None else keras.ops.convert_to_numpy(g)
            for v, g in zip(variables, grads, strict=True)]


class GradientMonitor(keras.callbacks.Callback):
    """Per layer with a kernel: ``grad/<layer>/norm`` (||dL/dW||) and
    ``grad/<layer>/update_ratio`` (learning rate x ||dL/dW|| / ||W||; for an adaptive
    optimizer its actual step differs) on the probe batch ``(x, y)``, before training and
    at every ``every``-th epoch's end; into the epoch's logs (history.csv, the report) and
    ``history`` (epoch -1: at initialization)."""

    def __init__(self, x, y, every: int = 1):
        super().__init__()
        self.x, self.y, self.every = x, y, every
        self.history: list[dict] = []

    def measure(self) -> dict[str, float]:
        grads = loss_gradients(self.model, self.x, self.y)
        lr = current_learning_rate(getattr(self.model, "optimizer", None)) or 0.0
        stats = {}
        for variable, grad in zip(self.model.trainable_variables, grads, strict=True):
            parts = variable.path.split("/")
            if parts[-1] != "kernel":
                continue
            layer = parts[-2] if len(parts) > 1 else variable.name
            norm = float(np.linalg.norm(grad))
            weight = float(np.linalg.norm(keras.ops.convert_to_numpy(variable.value)))
            stats[f"grad/{layer}/norm"] = norm
            stats[f"grad/{layer}/update_ratio"] = lr * norm / weight if weight else 0.0
        return stats

    def on_train_begin(self, logs=None):
        if not (self.history and self.history[0]["epoch"] == -1):
            self.history.insert(0, {"epoch": -1, **self.measure()})

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        stats = self.measure()
        self.history.append({"epoch": epoch, **stats})
        if logs is not None:
            logs.update(stats)


class NonFiniteLossError(FloatingPointError):
    pass


class TerminateOnNaN(keras.callbacks.Callback):
    """Stop at the first non-finite loss with a message saying where and what to try."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise NonFiniteLossError(
                f"Training diverged: loss became {float(loss)} at epoch {self.epoch + 1}, "
                f"batch {batch + 1}. Try a lower learning rate, gradient clipping or "
                f"batch normalization."
            )


class EpochCounter(keras.callbacks.Callback):
    """Epochs completed in total (resumed runs included) and seconds per epoch."""

    def __init__(self):
        super().__init__()
        self.epochs_done = 0
        self.epoch_seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        import time

        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        import time

        self.epochs_done = epoch + 1
        self.epoch_seconds.append(time.perf_counter() - self._start)


BATCH_LOG = "batches.csv"  # in a kdl train workdir
BATCH_LOG_FIELDS = ("epoch", "batch", "step", "seconds", "loss")


class BatchLossLogger(keras.callbacks.Callback):
    """Every ``every`` batches, one row of ``path`` (CSV): the epoch (from 0), the batch
    count within it, the optimizer's update step, the seconds of training so far (across a
    resume), and the mean training loss of the batches since the last row.

    Keras passes each batch's end the running mean of the epoch's loss so far (sample
    weighted); the window's mean is ``(m_b * b - m_a * a) / (b - a)`` between counts ``a``
    and ``b``, exact where the batches are of equal size (all but an epoch's last).
    Rows are written at each epoch's end, like Keras' CSVLogger; at the first epoch of a
    ``fit``, rows of that epoch and later (a killed run's, trained again now) are dropped.
    """

    def __init__(self, path: str, every: int = 1):
        super().__init__()
        if int(every) < 1:
            raise ValueError(f"`every` must be a positive number of batches. "
                             f"Received: every={every!r}")
        self.path, self.every = path, int(every)
        self.rows: list[dict] = []
        self._pending: list[dict] = []
        self._started = False
        self._offset = self._clock = self._paused = self._test_start = 0.0
        self._epoch = self._last_count = 0
        self._last_mean = 0.0

    def _restart_at(self, epoch: int) -> None:
        import time

        kept = [r for r in read_batch_log(self.path) if r["epoch"] < epoch] \
            if os.path.exists(self.path) else []
        self._write(kept, mode="w")
        self.rows = kept
        self._offset = kept[-1]["seconds"] if kept else 0.0
        self._clock, self._paused = time.perf_counter(), 0.0
        self._started = True

    def _seconds(self) -> float:
        import time

        return self._offset + time.perf_counter() - self._clock - self._paused

    def _write(self, rows: list[dict], mode: str) -> None:
        import csv

        with open(self.path, mode, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=BATCH_LOG_FIELDS)
            if mode == "w":
                writer.writeheader()
            writer.writerows(rows)

    def on_epoch_begin(self, epoch, logs=None):
        if not self._started:
            self._restart_at(epoch)
        self._epoch, self._last_count, self._last_mean = epoch, 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        count = batch + 1
        loss = (logs or {}).get("loss")
        if count - self._last_count < self.every or loss is None:
            return
        mean = float(loss)
        window = (mean * count - self._last_mean * self._last_count) / (count - self._last_count)
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self._pending.append({"epoch": self._epoch, "batch": count, "step": step,
                              "seconds": self._seconds(),
                              "loss": window})
        self._last_count, self._last_mean = count, mean

    def on_test_begin(self, logs=None):  # validation inside fit: not training time
        import time

        self._test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        import time

        self._paused += time.perf_counter() - self._test_start

    def on_epoch_end(self, epoch, logs=None):
        self._write(self._pending, mode="a")
        self.rows += self._pending
        self._pending = []

    def on_train_end(self, logs=None):
        self._started = False  # a later fit (a resume in this process) starts from its epoch


def read_batch_log(path: str) -> list[dict]:
    """:class:`BatchLossLogger`'s ``batches.csv`` as rows of numbers."""
    import csv

    with open(path, newline="") as f:
        return [{"epoch": int(r["epoch"]), "batch": int(r["batch"]), "step": int(r["step"]),
                 "seconds": float(r["seconds"]), "loss": float(r["loss"])}
                for r in csv.DictReader(f)]


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def current_learning_rate(optimizer) -> float | None:
    """The optimizer's learning rate at its current step (schedules evaluated)."""
    if optimizer is None:
        return None
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None


class LearningRateLogger(keras.callbacks.Callback):
    """Put the learning rate at each epoch's end into the logs as ``learning_rate``
    (schedules evaluated), for the CSV, TensorBoard, the report and :class:`EpochProgress`."""

    def on_epoch_end(self, epoch, logs=None):
        lr = current_learning_rate(getattr(self.model, "optimizer", None))
        if lr is not None and logs is not None:
            logs["learning_rate"] = lr


class EpochProgress(keras.callbacks.Callback):
    """Print ``epoch 3/30  loss 0.41 accuracy 0.85 | val_loss ... | lr 1.9e-03  4.1s  ETA 1m40s``.

    Shows ``loss``, the compiled metrics and their ``val_`` forms only (other log keys,
    such as :class:`ActivationMonitor`'s, stay in the logs for the CSV and TensorBoard).

    Args:
        epochs: the run's total number of epochs (for "3/30" and the ETA).
        prefix: printed before each line (e.g. "seed 1: ").
        print_fn: where lines go (``print`` by default).
        running_count: count epochs across several ``fit`` calls given this callback
            (greedy pretraining: one ``fit`` per layer), not by Keras' epoch index.
    """

    def __init__(self, epochs: int, prefix: str = "", print_fn=None, running_count: bool = False):
        super().__init__()
        self.epochs = epochs
        self.running_count = running_count
        self.prefix = prefix
        self.print_fn = print_fn or (lambda line: print(line, flush=True))
        self._seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        import time

        self._start = time.perf_counter()

    def _shown_keys(self, logs: dict) -> list[str]:
        names = ["loss"]
        for metric in getattr(self.model, "metrics", []):
            for key in (metric.name, getattr(metric, "_name", None)):
                if key and key not in names and key != "compile_metrics":
                    names.append(key)
        names += [k for k in logs if k.startswith(("accuracy", "mae", "mse", "perplexity"))]
        shown = [k for k in dict.fromkeys(names) if k in logs]
        return shown + [f"val_{k}" for k in shown if f"val_{k}" in logs]

    def on_epoch_end(self, epoch, logs=None):
        import time

        logs = logs if logs is not None else {}
        seconds = time.perf_counter() - self._start
        self._seconds.append(seconds)
        if self.running_count:
            epoch = len(self._seconds) - 1
        lr = logs.get("learning_rate", current_learning_rate(getattr(self.model, "optimizer", None)))
        parts = [f"{self.prefix}epoch {epoch + 1}/{self.epochs}"]
        parts += [f"{k} {float(logs[k]):.4f}" for k in self._shown_keys(logs)]
        if lr is not None:
            parts.append(f"lr {lr:.2e}")
        parts.append(format_duration(seconds))
        left = self.epochs - (epoch + 1)
        if left > 0:
            # The first epoch carries the tracing; the later ones are the better guide.
            recent = self._seconds[1:] or self._seconds
            parts.append(f"ETA {format_duration(left * sum(recent) / len(recent))}")
        self.print_fn("  ".join(parts))


class LiveEpochProgress(EpochProgress):
    """:class:`EpochProgress` on a terminal: within each epoch one line redrawn in place
    (``epoch 3/30  step 120/422  9,800 img/s  loss 0.4123  ETA 12s, run 5m10s``) at most
    every ``interval`` seconds, replaced by the epoch's summary line at its end.

    Only a terminal gets this callback (:func:`epoch_progress`): a callback with a batch
    hook makes Keras hand it the logs after every step, so a log file, CI or ``--json``
    gets :class:`EpochProgress` alone and pays nothing.
    """

    def __init__(self, epochs: int, prefix: str = "", print_fn=None,
                 running_count: bool = False, batch_size: int | None = None,
                 interval: float = 0.25, stream=None):
        super().__init__(epochs, prefix, print_fn, running_count)
        self.batch_size = batch_size
        self.interval = interval
        self.stream = stream if stream is not None else sys.stdout
        self._drawn = 0.0
        self._width = 0

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._epoch = len(self._seconds) if self.running_count else epoch
        self._drawn = self._start

    def on_train_batch_end(self, batch, logs=None):
        import time

        now = time.perf_counter()
        if now - self._drawn < self.interval:
            return
        self._drawn = now
        done, elapsed = batch + 1, now - self._start
        steps = (self.params or {}).get("steps")
        parts = [f"{self.prefix}epoch {self._epoch + 1}/{self.epochs}",
                 f"step {done}/{steps}" if steps else f"step {done}"]
        if self.batch_size:
            parts.append(f"{done * self.batch_size / elapsed:,.0f} img/s")
        if logs and "loss" in logs:
            parts.append(f"loss {float(logs['loss']):.4f}")
        if steps:
            epoch_left = elapsed / done * (steps - done)
            per_epoch = elapsed / done * steps
            recent = self._seconds[1:] or self._seconds or [per_epoch]
            run_left = epoch_left + (self.epochs - self._epoch - 1) * sum(recent) / len(recent)
            parts.append(f"ETA {format_duration(epoch_left)}, run {format_duration(run_left)}")
        line = "  ".join(parts)
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def on_epoch_end(self, epoch, logs=None):
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")  # the live line, gone
            self.stream.flush()
            self._width = 0
        super().on_epoch_end(epoch, logs)


def epoch_progress(epochs: int, prefix: str = "", running_count: bool = False,
                   batch_size: int | None = None, live: bool | None = None):
    """The progress callback for a run: :class:`LiveEpochProgress` on a terminal (``live``
    None: when stdout is one), else :class:`EpochProgress`'s epoch lines only."""
    if live is None:
        live = sys.stdout.isatty()
    if live:
        return LiveEpochProgress(epochs, prefix, running_count=running_count,
                                 batch_size=batch_size)
    return EpochProgress(epochs, prefix, running_count=running_count)


class ResumeInSync(keras.callbacks.Callback):
    """Make all replicas of a distributed run resume from the same epoch and weights.

    Put it right after ``keras.callbacks.BackupAndRestore``. At the start of training each
    replica tells the others the epoch its backup restored (one all-reduce of a small
    vector); when they agree, nothing else happens. Otherwise the replica with the most
    progress (the first of them) sends its model and optimizer variables to all others
    (a second all-reduce, the others contributing zeros), and every replica resumes at
    its epoch. No shared filesystem is needed.

    Args:
        strategy: the ``tf.distribute`` strategy the model was built under.
    """

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy

    def _variables(self):
        seen, out = set(), []
        optimizer = getattr(self.model, "optimizer", None)
        for v in list(self.model.variables) + list(optimizer.variables if optimizer else []):
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        return out

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        strategy = self.strategy
        replicas = strategy.num_replicas_in_sync
        epoch = get_initial_epoch(self.model)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            # A replica without a backup has not built its optimizer yet; its peers have.
            with strategy.scope():
                optimizer.build(self.model.trainable_variables)

        def share_epochs():
            ctx = tf.distribute.get_replica_context()
            mine = tf.one_hot(ctx.replica_id_in_sync_group, replicas, dtype=tf.int64) * epoch
            return ctx.all_reduce("SUM", mine)

        epochs = strategy.experimental_local_results(strategy.run(tf.function(share_epochs)))
        epochs = [int(e) for e in epochs[0].numpy()]
        if len(set(epochs)) == 1:
            return
        source = int(np.argmax(epochs))
        variables = self._variables()

        def broadcast():
            ctx = tf.distribute.get_replica_context()
            is_source = tf.equal(ctx.replica_id_in_sync_group, source)
            groups = {tf.float32: [], tf.int64: []}  # one all-reduce per dtype
            for v in variables:
                x = tf.convert_to_tensor(v.value)
                wide = tf.cast(x, tf.float32 if x.dtype.is_floating else tf.int64)
                groups[wide.dtype].append(tf.where(is_source, wide, tf.zeros_like(wide)))
            return {str(k.name): ctx.all_reduce("SUM", g) if g else [] for k, g in groups.items()}

        reduced = strategy.run(tf.function(broadcast))
        queues = {k: [strategy.experimental_local_results(t)[0] for t in g]
                  for k, g in reduced.items()}
        for v in variables:
            floating = tf.as_dtype(v.dtype).is_floating
            x = queues["float32" if floating else "int64"].pop(0)
            v.assign(tf.cast(x, v.dtype))
        set_initial_epoch(self.model, epochs[source])
        print(f"kdl: replicas restored different backups (epochs {epochs}); all resume at "
              f"epoch {epochs[source]} from replica {source}'s.", flush=True)
