"""One resolution step: a recipe by name, shrunk, overridden and checked, then resolved
for where it will run. Raises ValueError naming what was received."""

from __future__ import annotations

from kdl._names import unknown_name_message
from kdl.optimizers import OPTIMIZERS, SCHEDULES
from kdl.platform import PRECISIONS, jit_compile_for, precision_for
from kdl.recipes import EARLY_STOPPING, Recipe, get_recipe
from kdl.tasks import get_task, list_tasks


def resolve_recipe(name: str, *, smoke: bool = False, overrides=(), **changes) -> Recipe:
    """The recipe ``name``, shrunk by ``smoke``, with ``overrides`` (``key=value``
    strings, as ``--set`` takes them) and then ``changes`` (fields; None: unchanged)
    applied, checked."""
    from kdl.recipes import apply_overrides

    recipe = get_recipe(name)
    if smoke:
        recipe = recipe.smoke()
    recipe = apply_overrides(recipe, list(overrides or []))
    changes = {k: v for k, v in changes.items() if v is not None}
    recipe = recipe.replace(**changes) if changes else recipe
    check_recipe(recipe)
    return recipe


def check_recipe(recipe: Recipe) -> None:
    """Validate what the engine relies on, with the value received."""
    from kdl.models import list_models

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
    if recipe.task not in list_tasks():
        raise ValueError(unknown_name_message("task", recipe.task, list_tasks(), received="task"))
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
    if recipe.pretrain is not None and not hasattr(recipe.pretrain, "kind"):
        raise ValueError("`pretrain` must be None or a pretraining (kdl.recipes.SDAEPretraining). "
                         f"Received: pretrain={recipe.pretrain!r}")


def check_data(recipe: Recipe) -> None:
    """Raise :class:`kdl.data.DataNotFoundError` (how to get it) when the recipe's data
    cannot be had; before anything of a run is written."""
    get_task(recipe.task).check_data(recipe)


def resolve_for_strategy(recipe: Recipe, strategy=None) -> Recipe:
    """``recipe`` with what ``strategy`` (or the Keras backend) cannot run replaced by what it can."""
    import keras
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
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
