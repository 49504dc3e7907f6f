"""The course's optimizers and learning-rate schedules, by name, as recipes use them:
``build_optimizer(recipe, steps_per_epoch)`` makes the Keras optimizer a recipe asks for,
its schedule, and the options every Keras optimizer validates (weight decay, clipping,
weight averaging)."""

from __future__ import annotations

from collections.abc import Callable

import keras

from kdl._keras_compat import copy_averages_on_overwrite, use_single_pass_weight_decay
from kdl.recipes import Recipe

# Each takes the learning rate (or schedule), the recipe, and the options every Keras
# optimizer takes (weight decay, clipping, EMA), so that Keras validates them.
OPTIMIZERS: dict[str, Callable] = {
    "sgd": lambda lr, r, **kw: keras.optimizers.SGD(lr, **kw),
    "momentum": lambda lr, r, **kw: keras.optimizers.SGD(lr, momentum=r.momentum, **kw),
    "nesterov": lambda lr, r, **kw: keras.optimizers.SGD(lr, momentum=r.momentum, nesterov=True,
                                                         **kw),
    "adagrad": lambda lr, r, **kw: keras.optimizers.Adagrad(lr, **kw),
    "rmsprop": lambda lr, r, **kw: keras.optimizers.RMSprop(lr, **kw),
    "adam": lambda lr, r, **kw: keras.optimizers.Adam(lr, **kw),
    "nadam": lambda lr, r, **kw: keras.optimizers.Nadam(lr, **kw),
    "adamw": lambda lr, r, **kw: keras.optimizers.AdamW(
        lr, **{**kw, "weight_decay": kw.get("weight_decay") or 0.004}),
}
SCHEDULES = ("constant", "cosine", "step", "warmup_cosine")


def build_optimizer(recipe: Recipe, steps_per_epoch: int, num_replicas: int = 1,
                    learning_rate=None):
    """The recipe's optimizer with its schedule; ``learning_rate`` (a rate or a Keras
    schedule) replaces the recipe's rate and schedule, and then no weights are averaged
    (kdl lr-find's ramp)."""
    lr = recipe.learning_rate * (num_replicas if recipe.scale_learning_rate else 1)
    total = max(1, recipe.epochs * steps_per_epoch)
    warmup = min(total - 1, recipe.warmup_epochs * steps_per_epoch)
    if recipe.schedule == "cosine":
        schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=total)
    elif recipe.schedule == "warmup_cosine":
        schedule = keras.optimizers.schedules.CosineDecay(
            lr * 0.01, decay_steps=max(1, total - warmup), warmup_target=lr,
            warmup_steps=warmup)
    elif recipe.schedule == "step":
        every = max(1, recipe.step_epochs) * steps_per_epoch
        bounds = list(range(every, total, every))
        values = [lr * recipe.step_gamma ** i for i in range(len(bounds) + 1)]
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values) \
            if bounds else lr
    else:
        schedule = lr
    if learning_rate is not None:
        schedule, recipe = learning_rate, recipe.replace(ema=None)
    options = {"clipnorm": recipe.clipnorm, "clipvalue": recipe.clipvalue}
    if recipe.weight_decay:
        options["weight_decay"] = recipe.weight_decay  # Keras' decoupled weight decay
    if recipe.ema:
        # Polyak averaging: the model's weights become the moving average once per epoch,
        # so validation, early stopping and the export all see the averaged weights.
        options.update(use_ema=True, ema_momentum=recipe.ema,
                       ema_overwrite_frequency=steps_per_epoch)
    optimizer = OPTIMIZERS[recipe.optimizer](schedule, recipe, **options)
    if optimizer.weight_decay:
        use_single_pass_weight_decay(optimizer)
    if optimizer.use_ema:
        copy_averages_on_overwrite(optimizer)
    return optimizer
