"""One resolution step: a recipe by name, shrunk, overridden and checked, then resolved
for where it will run. Raises ValueError naming what was received."""

from __future__ import annotations

import math

from kdl._names import unknown_name_message
from kdl.errors import ConfigError
from kdl.optimizers import OPTIMIZERS, SCHEDULES
from kdl.platform import (INPUT_PIPELINES, PRECISIONS, input_pipeline_for, jit_compile_for,
                          precision_for, tensorflow_available)
from kdl.recipes import EARLY_STOPPING, Recipe, get_recipe
from kdl.tasks import get_task, list_tasks


def resolve_recipe(name: str, *, smoke: bool = False, overrides=(), new_name: str | None = None,
                   **changes) -> Recipe:
    """The recipe ``name`` (or recipe file), shrunk by ``smoke``, with ``overrides``
    (``key=value`` strings, as ``--set`` takes them) and then ``changes`` (fields; None:
    unchanged) applied, checked; with ``new_name``, a new recipe made from it (its
    ``origin`` says which)."""
    import re

    from kdl.recipes import apply_overrides, is_shipped

    if new_name is not None and (not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", new_name)
                                 or is_shipped(new_name)):
        why = "a new recipe's name, not one of kdl's own" if is_shipped(new_name) else \
            "a letter, then letters, digits, _ or -"
        raise ConfigError(f"--name must be {why}. Received: --name {new_name!r}")
    recipe = get_recipe(name)
    if smoke:
        recipe = recipe.smoke()
    recipe = apply_overrides(recipe, list(overrides or []))
    changes = {k: v for k, v in changes.items() if v is not None}
    recipe = recipe.replace(**changes) if changes else recipe
    check_recipe(recipe)
    if get_task(recipe.task).image_data:  # a source's path made absolute: reruns anywhere
        from kdl.data.sources import normalize_spec

        recipe = recipe.replace(data=normalize_spec(recipe.data))
    if new_name is not None:
        recipe = recipe.replace(name=new_name, origin=f"from:{name}")
    return recipe


def check_recipe(recipe: Recipe) -> None:
    """Validate what the engine relies on, with the value received."""
    from kdl.models import list_models

    for key in ("epochs", "batch_size", "early_stopping_patience", "step_epochs",
                "sequence_length", "max_chars", "steps_per_execution"):
        value = getattr(recipe, key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"`{key}` must be a positive integer. Received: {key}={value!r}")
    for key in ("max_train_examples", "max_labeled_examples", "max_test_examples"):
        value = getattr(recipe, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value <= 0):
            raise ConfigError(f"`{key}` must be None or a positive integer. "
                              f"Received: {key}={value!r}")
    for key in ("seed", "warmup_epochs"):
        value = getattr(recipe, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"`{key}` must be an integer >= 0. Received: {key}={value!r}")
    _check_numbers(recipe)
    for field, choices in (("model", list_models()), ("optimizer", OPTIMIZERS),
                           ("schedule", SCHEDULES), ("precision", PRECISIONS),
                           ("input_pipeline", INPUT_PIPELINES)):
        if getattr(recipe, field) not in choices:
            raise ConfigError(unknown_name_message(field, getattr(recipe, field), choices,
                                                  received=field))
    if not recipe.learning_rate > 0:
        raise ConfigError(f"`learning_rate` must be positive. Received: learning_rate={recipe.learning_rate!r}")
    if recipe.task not in list_tasks():
        raise ConfigError(unknown_name_message("task", recipe.task, list_tasks(), received="task"))
    if recipe.test_time_flip and not get_task(recipe.task).classifier:
        raise ConfigError("`test_time_flip` applies to image classification only. "
                         f"Received: test_time_flip=True with task={recipe.task!r}")
    for key in ("l1", "l2", "activity_l1", "weight_decay"):
        value = getattr(recipe, key)
        if not _number(value) or value < 0:
            raise ConfigError(f"`{key}` must be a finite number >= 0. Received: {key}={value!r}")
    for key in ("clipnorm", "clipvalue"):
        value = getattr(recipe, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or value <= 0):
            raise ConfigError(f"`{key}` must be None or a positive number. Received: {key}={value!r}")
    if recipe.clipnorm is not None and recipe.clipvalue is not None:
        raise ConfigError("Clip gradients by norm or by value, not both. Received: "
                         f"clipnorm={recipe.clipnorm!r}, clipvalue={recipe.clipvalue!r}")
    if recipe.ema is not None and not (_number(recipe.ema) and 0 < recipe.ema < 1):
        raise ConfigError(f"`ema` must be None or a momentum in (0, 1). Received: ema={recipe.ema!r}")
    if recipe.early_stopping not in EARLY_STOPPING:
        raise ConfigError(unknown_name_message("early_stopping", recipe.early_stopping,
                                              EARLY_STOPPING, received="early_stopping"))
    if recipe.normalization not in (None, "channel", "pixel", "scale"):
        raise ConfigError("`normalization` must be channel, pixel, scale or None. "
                         f"Received: normalization={recipe.normalization!r}")
    check_model_args(recipe)
    if get_task(recipe.task).image_data:
        from kdl.data.sources import split_spec

        split_spec(recipe.data)  # a SOURCE: kdl has, with its argument
    _check_finetuning(recipe)
    if recipe.pretrain is not None and not hasattr(recipe.pretrain, "kind"):
        raise ConfigError("`pretrain` must be None or a pretraining (kdl.recipes.SDAEPretraining). "
                         f"Received: pretrain={recipe.pretrain!r}")
    if input_pipeline_for(recipe) == "pydataset":
        _check_without_tf_data(recipe)


def _check_without_tf_data(recipe: Recipe) -> None:
    """What the PyDataset feed (kdl.data.feed) cannot do yet, refused in one line."""
    reason = None
    if not get_task(recipe.task).feeds_without_tf_data:
        reason = f"the {recipe.task} task's data pipeline is tf.data"
    elif recipe.pretrain is not None:
        reason = "greedy pretraining feeds its layers through tf.data"
    if reason:
        where = ("TensorFlow is not installed here" if not tensorflow_available()
                 else "input_pipeline='pydataset'")
        raise ConfigError(f"recipe {recipe.name!r} needs TensorFlow: {reason}, and {where}. "
                          f"Received: input_pipeline={recipe.input_pipeline!r}")


def _check_finetuning(recipe: Recipe) -> None:
    from kdl.engine.finetune import check_init_from

    if recipe.init_from is not None:
        check_init_from(recipe.init_from)
    freeze = recipe.freeze
    if not (freeze in ("none", "backbone") or (isinstance(freeze, int) and not isinstance(
            freeze, bool) and freeze >= 0)):
        raise ConfigError(f"`freeze` must be 'none', 'backbone' or a number of leading layers "
                          f">= 0. Received: freeze={freeze!r}")
    if freeze not in ("none", 0) and recipe.init_from is None:
        raise ConfigError(f"`freeze` keeps loaded weights fixed: set init_from too. Received: "
                          f"freeze={freeze!r} with init_from=None")
    if recipe.adapt_input and recipe.init_from is None:
        raise ConfigError("`adapt_input` adapts loaded weights: set init_from too. Received: "
                          "adapt_input=True with init_from=None")
    if recipe.unfreeze_epoch is not None:
        value = recipe.unfreeze_epoch
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < recipe.epochs:
            raise ConfigError(f"`unfreeze_epoch` must be None or an epoch in 1..{recipe.epochs - 1} "
                              f"(of {recipe.epochs}). Received: unfreeze_epoch={value!r}")
        if freeze in ("none", 0):
            raise ConfigError(f"`unfreeze_epoch` ends a frozen phase: set freeze too. Received: "
                              f"unfreeze_epoch={value!r} with freeze={freeze!r}")
    if not (_number(recipe.head_learning_rate_multiplier)
            and recipe.head_learning_rate_multiplier > 0):
        raise ConfigError(f"`head_learning_rate_multiplier` must be a finite number > 0. "
                          f"Received: head_learning_rate_multiplier="
                          f"{recipe.head_learning_rate_multiplier!r}")


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_numbers(recipe: Recipe) -> None:
    """Finite numbers in their ranges, for the fields whose range the loop relies on."""
    ranges = {"learning_rate": (0, None, "a finite number > 0"),
              "momentum": (0, 1, "a number in [0, 1)"),
              "step_gamma": (0, None, "a finite number > 0"),
              "label_smoothing": (0, 1, "a number in [0, 1)"),
              "validation_fraction": (0, 1, "a number in [0, 1)")}
    for key, (low, high, text) in ranges.items():
        value = getattr(recipe, key)
        inclusive = key in ("momentum", "label_smoothing", "validation_fraction")
        ok = _number(value) and (value >= low if inclusive else value > low) and \
            (high is None or value < high)
        if not ok:
            raise ConfigError(f"`{key}` must be {text}. Received: {key}={value!r}")
    if not (_number(recipe.label_noise) and 0 <= recipe.label_noise <= 1):
        raise ConfigError(f"`label_noise` must be a number in [0, 1]. Received: "
                          f"label_noise={recipe.label_noise!r}")
    every = recipe.log_every_n_batches
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise ConfigError(f"`log_every_n_batches` must be a whole number of batches >= 0 "
                          f"(0: off). Received: log_every_n_batches={every!r}")
    if recipe.target is not None and not _number(recipe.target):
        raise ConfigError(f"`target` must be None or a finite number. Received: target={recipe.target!r}")
    if recipe.image_size is not None and not (
            isinstance(recipe.image_size, tuple | list) and len(recipe.image_size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                    for v in recipe.image_size)):
        raise ConfigError("`image_size` must be None or (height, width), two positive integers. "
                          f"Received: image_size={recipe.image_size!r}")
    if recipe.jit_compile not in (None, True, False, "auto"):
        raise ConfigError("`jit_compile` must be None, True, False or 'auto'. "
                          f"Received: jit_compile={recipe.jit_compile!r}")
    for key in ("data", "early_stopping_monitor", "target_metric"):
        value = getattr(recipe, key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"`{key}` must be a non-empty string. Received: {key}={value!r}")


def check_model_args(recipe: Recipe) -> None:
    """``recipe.model_args`` against the builder's real signature: unknown names with their
    close matches, and the arguments the task sets from the data refused with where they
    come from. (Their values are checked by the builder when the model is built.)"""
    import inspect

    from kdl._names import close_matches
    from kdl.models._registry import get_model_builder

    if not isinstance(recipe.model_args, dict):
        raise ConfigError(f"`model_args` must be a dict of the builder's arguments. "
                          f"Received: model_args={recipe.model_args!r}")
    params = inspect.signature(get_model_builder(recipe.model)).parameters
    from_data = get_task(recipe.task).model_args_from_data
    for key in recipe.model_args:
        if key in from_data:
            raise ConfigError(f"model_args.{key} is set by the recipe from {from_data[key]}, "
                              f"not by model_args. Received: model_args.{key}="
                              f"{recipe.model_args[key]!r}")
        if key not in params:
            names = [p for p in params if p not in from_data]
            matches = close_matches(str(key), names)
            hint = f" Did you mean: {', '.join(matches)}?" if matches else ""
            raise ConfigError(f"Unknown argument '{key}' of model {recipe.model}.{hint} "
                              f"Received: model_args.{key}={recipe.model_args[key]!r}")


def check_data(recipe: Recipe) -> dict:
    """Raise :class:`kdl.data.DataNotFoundError` (how to get it) or
    :class:`kdl.errors.DataError` (what is wrong with it) when the recipe's data cannot be
    had; before anything of a run is written. Returns the data's fingerprint."""
    fingerprint = get_task(recipe.task).check_data(recipe) or {}
    if recipe.init_from is not None and fingerprint.get("image_shape"):
        from kdl.engine.finetune import check_input_shape

        check_input_shape(recipe, fingerprint["image_shape"])
    return fingerprint


def resolve_for_strategy(recipe: Recipe, strategy=None) -> Recipe:
    """``recipe`` with what ``strategy`` (or the Keras backend) cannot run replaced by what it can."""
    import keras

    # Recorded as they run.
    recipe = recipe.replace(jit_compile=jit_compile_for(recipe), precision=precision_for(recipe),
                            input_pipeline=input_pipeline_for(recipe))
    if recipe.steps_per_execution > 1 and keras.backend.backend() == "torch":
        return recipe.replace(steps_per_execution=1)  # Keras' torch trainer runs one step a call
    if not tensorflow_available():
        return recipe
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    if recipe.steps_per_execution > 1 and (
            strategy.num_replicas_in_sync > 1
            or isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)):
        # Keras' multi-step loop fails under MultiWorkerMirroredStrategy ("while/cond/
        # Placeholder" InvalidArgumentError, seen here); distributed runs take one step a call.
        return recipe.replace(steps_per_execution=1)
    return recipe
