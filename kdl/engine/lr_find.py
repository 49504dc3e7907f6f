"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural
Networks", section 3.3; the form fastai made common): train a recipe's fresh model for at
most one epoch while its learning rate grows exponentially from ``min_lr`` to ``max_lr``,
record the loss of every batch, and read off where it falls fastest and where it diverges.

Run: ``kdl lr-find RECIPE``. The recipe's own data, model, optimizer (its momentum, clipping
and weight decay), loss and batch size; its schedule and weight averaging are replaced by
the ramp. Read after the run, the batch losses are smoothed by a centred moving average
over 5% of the batches: fastai's causal moving average (beta 0.98) lags by about 50
batches, which over one epoch of a wide ramp is most of a decade of rates, and shifted
the steepest fall of LeNet-5's curve ten-fold (seen here, ``kdl lr-find
lenet5_fashion_mnist``). The suggested rate is where the smoothed loss falls fastest
against the log of the rate, before its minimum; the rate of the minimum over ten, the
other rule in use, is given beside it. Both are heuristics: the figure is the answer.

Divergence is where the smoothed loss, past its minimum, climbs back half-way to where it
started, or passes 4x its minimum (fastai's rule, for losses without a ceiling; a
classifier's cross-entropy settles near log(classes) when it diverges and never reaches
4x). The run stops early, while it runs, once the causal average passes either mark.
"""

from __future__ import annotations

import dataclasses
import math
import os

import keras
import numpy as np

from kdl._files import write_json
from kdl.engine.loop import build_model, loss_and_metrics, prepare_data
from kdl.engine.resolve import check_recipe, resolve_for_strategy
from kdl.errors import ConfigError
from kdl.optimizers import build_optimizer
from kdl.platform import provenance, set_precision
from kdl.recipes import Recipe

SMOOTHING = 0.98  # the causal moving average that stops a diverging run
WINDOW = 0.05  # the centred moving average's width, a fraction of the batches
DIVERGENCE = 4.0


class ExponentialRamp(keras.optimizers.schedules.LearningRateSchedule):
    """``min_lr * (max_lr / min_lr) ** (step / (steps - 1))``: min_lr at the first step,
    max_lr at step ``steps - 1``."""

    def __init__(self, min_lr: float, max_lr: float, steps: int):
        self.min_lr, self.max_lr, self.steps = float(min_lr), float(max_lr), int(steps)

    def __call__(self, step):
        fraction = keras.ops.cast(step, "float32") / max(1, self.steps - 1)
        return self.min_lr * keras.ops.power(self.max_lr / self.min_lr, fraction)

    def get_config(self):
        return {"min_lr": self.min_lr, "max_lr": self.max_lr, "steps": self.steps}


@dataclasses.dataclass
class LRFindResult:
    recipe: str
    rates: list[float]
    losses: list[float]
    smoothed: list[float]
    suggested: float | None  # steepest fall of the smoothed loss
    min_over_ten: float | None  # the rate of the smoothed loss's minimum / 10
    diverged_at: float | None  # the rate where the smoothed loss passed 4x its minimum

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def smooth(losses, window: float = WINDOW) -> np.ndarray:
    """A centred moving average of ``losses`` over ``window`` of them (at least 5, odd),
    the window shrinking at both ends: no lag."""
    losses = np.asarray(losses, "float64")
    half = max(5, int(len(losses) * window)) // 2
    out = np.empty_like(losses)
    for i in range(len(losses)):
        out[i] = losses[max(0, i - half): i + half + 1].mean()
    return out


def diverged(smoothed) -> int | None:
    """The first index past the minimum where ``smoothed`` climbs back half-way to its
    start, or passes 4x its minimum; None where it does neither."""
    smoothed = np.asarray(smoothed, "float64")
    finite = np.isfinite(smoothed)
    if not finite.all():
        return int(np.argmin(finite))
    low = int(np.argmin(smoothed))
    start, best = smoothed[0], smoothed[low]
    mark = min(best + 0.5 * (start - best), DIVERGENCE * best) if start > best else \
        DIVERGENCE * best
    above = np.flatnonzero(smoothed[low:] > mark)
    return low + int(above[0]) if len(above) else None


def suggest(rates, smoothed) -> tuple[float | None, float | None]:
    """(rate of the steepest fall before the minimum, rate of the minimum / 10)."""
    rates, smoothed = np.asarray(rates, "float64"), np.asarray(smoothed, "float64")
    if len(rates) < 3:
        return None, None
    low = int(np.argmin(smoothed))
    min_over_ten = float(rates[low] / 10)
    if low < 2:
        return None, min_over_ten
    slopes = np.gradient(smoothed[: low + 1], np.log(rates[: low + 1]))
    return float(rates[int(np.argmin(slopes))]), min_over_ten


class _BatchLosses(keras.callbacks.Callback):
    """Each batch's own loss (Keras' logs hold the epoch's running mean: undone here), its
    learning rate, and a stop once the smoothed loss diverges."""

    def __init__(self, schedule: ExponentialRamp):
        super().__init__()
        self.schedule = schedule
        self.rates, self.losses, self._mean = [], [], 0.0
        self.best, self.average, self.start = math.inf, 0.0, None

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        loss = (batch + 1) * mean - batch * self._mean if batch else mean
        self._mean = mean
        self.rates.append(float(keras.ops.convert_to_numpy(self.schedule(batch))))
        self.losses.append(loss)
        self.average = SMOOTHING * self.average + (1 - SMOOTHING) * loss
        smoothed = self.average / (1 - SMOOTHING ** len(self.losses))
        self.best = min(self.best, smoothed)
        if len(self.losses) == 10:
            self.start = smoothed
        past_start = self.start is not None and self.best < 0.8 * self.start \
            and smoothed > self.start
        if not math.isfinite(loss) or past_start or (
                len(self.losses) > 10 and smoothed > DIVERGENCE * self.best):
            self.model.stop_training = True


def lr_range_test(recipe: Recipe, *, min_lr: float = 1e-7, max_lr: float = 10.0,
                  steps: int | None = None) -> LRFindResult:
    """The range test of ``recipe`` over at most one epoch (``steps`` batches: default the
    epoch's). Raises :class:`kdl.errors.ConfigError` for a bad range."""
    if not (0 < min_lr < max_lr and math.isfinite(max_lr)):
        raise ConfigError(f"the learning-rate range must be 0 < min < max, finite. Received: "
                          f"min_lr={min_lr!r}, max_lr={max_lr!r}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 3):
        raise ConfigError(f"`steps` must be an integer >= 3. Received: steps={steps!r}")
    recipe = recipe.replace(ema=None, early_stopping="off", steps_per_execution=1,
                            schedule="constant", test_time_flip=False, monitor_activations=False)
    check_recipe(recipe)
    recipe = resolve_for_strategy(recipe)
    keras.utils.set_random_seed(recipe.seed)
    data = prepare_data(recipe)
    steps = min(steps or data.steps_per_epoch, data.steps_per_epoch)
    set_precision(recipe.precision)
    try:
        model = build_model(recipe, data)
        ramp = ExponentialRamp(min_lr, max_lr, steps)
        loss, _ = loss_and_metrics(recipe)  # no metrics: the loss is what the test reads
        model.compile(optimizer=build_optimizer(recipe, steps, learning_rate=ramp), loss=loss,
                      jit_compile=recipe.jit_compile)
        record = _BatchLosses(ramp)
        model.fit(data.train, epochs=1, steps_per_epoch=steps, callbacks=[record], verbose=0,
                  shuffle=False)
    finally:
        set_precision("float32")
    smoothed = smooth(record.losses)
    end = diverged(smoothed)
    suggested, min_over_ten = suggest(record.rates[:end], smoothed[:end])
    return LRFindResult(recipe.name, record.rates, record.losses,
                        [v if math.isfinite(v) else None for v in smoothed.tolist()], suggested,
                        min_over_ten, None if end is None else record.rates[end])


def write_lr_find(result: LRFindResult, recipe: Recipe, out: str) -> tuple[str, str]:
    """``out/lr_find.json`` (the result, its provenance) and ``out/lr_find.png``."""
    from kdl import plots

    os.makedirs(out, exist_ok=True)
    record = {**result.to_dict(), **provenance(resolve_for_strategy(recipe))}
    path = write_json(os.path.join(out, "lr_find.json"), record, default=str)
    figure = plots.plot_lr_find(result.rates, result.losses, result.smoothed, result.suggested,
                                result.min_over_ten, result.diverged_at, recipe.learning_rate,
                                os.path.join(out, "lr_find.png"))
    return path, figure
