"""Recipes: a whole training run as data, one file each in ``recipes/``.

The first floor of kdl: this module imports no Keras and nothing else of kdl's but the
floor below (:mod:`kdl._names`, :mod:`kdl.errors`, :mod:`kdl._files`), so a recipe file
is pure data. A recipe file outside the package (``kdl train ./my_recipe.py``) is any
Python file that defines ``RECIPE``; its SHA-256 goes into the run's record.

A :class:`Recipe` names the model and its arguments, the data and its split,
augmentation, normalization, optimizer, schedule, loss, epochs, batch size, callbacks
and the target it must beat. The files in the project's ``recipes/`` folder ship in the
wheel as ``kdl._recipes``, so ``kdl train NAME`` and ``python recipes/NAME.py`` run the
same recipe, also after a non-editable install. ``recipe.smoke()`` shrinks any recipe to
seconds for tests.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import fnmatch
import hashlib
import importlib
import importlib.util
import os
import pkgutil
import pprint
from typing import Any

from kdl._files import write_text
from kdl._names import close_matches, unknown_name_message
from kdl.errors import ConfigError

EARLY_STOPPING = ("auto", "stop", "restore_best", "off")
DECAYING_SCHEDULES = ("cosine", "warmup_cosine", "step")

# --- metric direction: the one home of "is lower better?" ----------------------------------

_LOWER_IS_BETTER = ("loss", "mse", "mae", "perplexity", "mean_squared_error",
                    "mean_absolute_error")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller ``metric`` is better: losses and errors (``val_`` prefix ignored)."""
    name = metric.removeprefix("val_")
    return name in _LOWER_IS_BETTER or name.endswith("_loss")


def metric_mode(metric: str) -> str:
    """``"min"`` or ``"max"``, as Keras' callbacks and KerasTuner's objectives take it."""
    return "min" if lower_is_better(metric) else "max"


def judge(target_metric: str, target: float | None, value: float | None) -> bool | None:
    """Whether ``value`` meets ``target``: at least the target, or for losses at most; None
    if either is missing. Compared in float32, the precision Keras computes metrics in:
    9,000 right of 10,000 reads as 0.8999999762 and meets a target of 0.9."""
    if target is None or value is None:
        return None
    import numpy as np

    value, target = np.float32(value), np.float32(target)
    return bool(value <= target) if lower_is_better(target_metric) else bool(value >= target)


def target_text(target_metric: str, target: float) -> str:
    """The target as the tables print it, e.g. ``accuracy >= 0.916``."""
    return f"{target_metric} {'<=' if lower_is_better(target_metric) else '>='} {target}"


# --- pretraining, a typed value -------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SDAEPretraining:
    """Greedy layer-wise pretraining of a stacked denoising autoencoder (Vincent et al.
    2010), before fine-tuning: the arguments of
    :func:`kdl.models.pretrain_stacked_denoising_autoencoder`."""

    kind = "sdae"  # a class attribute: the record's name for this method
    epochs_per_layer: int = 3
    corruption: str = "masking"
    corruption_level: float = 0.25
    batch_size: int = 256

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}


PRETRAININGS = {"sdae": SDAEPretraining}


def pretraining_from_dict(value: dict | None) -> SDAEPretraining | None:
    """A record's ``pretrain`` (``{"kind": ..., ...}``; ``{}`` or None for none) as its type."""
    if not value:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"`pretrain` must be None or a dict with its kind. Received: "
                          f"pretrain={value!r}")
    value = dict(value)
    kind = value.pop("kind", "sdae")
    if not isinstance(kind, str) or kind not in PRETRAININGS:
        raise ConfigError(unknown_name_message("pretraining", kind, PRETRAININGS,
                                              received="pretrain.kind"))
    cls = PRETRAININGS[kind]
    unknown = sorted(set(value) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ConfigError(f"Unknown field(s) of {kind} pretraining: {', '.join(unknown)}. "
                          f"Received: pretrain={value!r}")
    return cls(**value)


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    model: str
    data: str = "fashion_mnist"
    task: str = "classification"
    model_args: dict = dataclasses.field(default_factory=dict)
    validation_fraction: float = 0.1
    max_train_examples: int | None = None  # a prefix of the (shuffled) train split
    # Of those, how many keep their labels: the supervised fit sees this prefix only, while
    # unsupervised pretraining (``pretrain``) still sees every training image. None: all.
    max_labeled_examples: int | None = None
    # The fraction of training labels replaced by labels drawn uniformly at random (seeded;
    # validation and test keep theirs): Zhang et al. 2017's random-label memorization.
    label_noise: float = 0.0
    max_test_examples: int | None = None
    seed: int = 0
    image_size: tuple | None = None  # resize (bilinear) inside the model
    augmentation: dict = dataclasses.field(default_factory=dict)
    normalization: str | None = "channel"  # "channel", "pixel", "scale" (1/255) or None
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9  # for "momentum" and "nesterov"
    schedule: str = "constant"  # constant, cosine, step, warmup_cosine
    warmup_epochs: int = 0
    step_epochs: int = 30  # for "step": multiply by step_gamma every step_epochs
    step_gamma: float = 0.1
    weight_decay: float = 0.0  # decoupled (Loshchilov and Hutter): in the update, not the loss
    l1: float = 0.0  # penalties added to the loss, on every Dense/Conv kernel
    l2: float = 0.0
    activity_l1: float = 0.0  # L1 on hidden layers' outputs: sparse features
    clipnorm: float | None = None  # clip each gradient to this norm
    clipvalue: float | None = None  # clip each gradient element to [-v, v]
    label_smoothing: float = 0.0
    epochs: int = 10
    batch_size: int = 128
    # "auto": "off" under a decaying schedule (cosine, warmup_cosine, step), whose last
    # epochs are its best, and "stop" under a constant one. "stop": stop after
    # `early_stopping_patience` epochs without progress, restore the best weights.
    # "restore_best": run every epoch, then restore the best. "off": run every epoch, keep the last.
    early_stopping: str = "auto"
    early_stopping_patience: int = 5
    early_stopping_monitor: str = "val_loss"
    ema: float | None = None  # weight averaging momentum (e.g. 0.99), folded in each epoch
    monitor_activations: bool = False
    # Per-layer gradient norms and update ratios on a probe batch at each epoch's end
    # (kdl.callbacks.GradientMonitor), into history.csv.
    monitor_gradients: bool = False
    # Every n batches, the training loss of those batches against the update step and the
    # seconds (kdl.callbacks.BatchLossLogger), into batches.csv and the report; 0: off.
    # With steps_per_execution k, a row comes at most every k batches (Keras calls back then).
    log_every_n_batches: int = 0
    # Evaluate and export the mean of the predictions on the image and its mirror image
    # (kdl.layers.with_test_time_flip); training is unchanged. Classification only.
    test_time_flip: bool = False
    pretrain: SDAEPretraining | None = None  # e.g. greedy SDAE pretraining
    # Fine-tuning (kdl.engine.finetune): start from a trained model's weights, loaded by
    # layer name: a run's workdir, an export version, a .keras or .weights.h5 file, or
    # "card:NAME" (the weights kdl ships with a card). A classifier of another class count
    # gets a new head. Another input shape is refused unless adapt_input (the first
    # convolution's kernel summed or spread over the channels; shape-bound layers new).
    init_from: str | None = None
    adapt_input: bool = False
    # "none", "backbone" (every loaded layer but the head) or N (the first N layers with
    # trainable weights) frozen; batch norm in a frozen layer runs in inference mode.
    freeze: str | int = "none"
    # Train with the frozen layers frozen until this epoch, then all of them (None: frozen
    # throughout). While frozen, the rate is learning_rate * head_learning_rate_multiplier.
    unfreeze_epoch: int | None = None
    head_learning_rate_multiplier: float = 1.0
    sequence_length: int = 100  # char_rnn
    max_chars: int = 2_000_000  # char_rnn corpus size
    scale_learning_rate: bool = False  # linear scaling rule: lr * replicas (Goyal et al. 2017)
    precision: str = "float32"
    deterministic: bool = False  # op determinism and ordered tf.data: one seed, one result
    # None: kdl's choice for the backend (kdl.platform.jit_compile_for; docs: performance).
    jit_compile: bool | str | None = None  # True, False, "auto" (Keras' choice)
    steps_per_execution: int = 1
    # How batches reach the model: "tf.data", "pydataset" (Keras' PyDataset, no TensorFlow:
    # kdl.data.feed) or "auto" (tf.data wherever TensorFlow is installed).
    input_pipeline: str = "auto"
    target_metric: str = "accuracy"
    target: float | None = None
    target_reference: str = ""
    description: str = ""
    smoke_overrides: dict = dataclasses.field(default_factory=dict)
    # Where the recipe came from: "" for kdl's own; "file:PATH sha256:HEX" for a recipe file
    # (kdl train ./my_recipe.py); "from:BASE" for `kdl train --from BASE --name NEW`.
    origin: str = ""

    def early_stopping_mode(self) -> str:
        """What early stopping does in this run: "stop", "restore_best" or "off"."""
        if self.early_stopping != "auto":
            return self.early_stopping
        return "off" if self.schedule in DECAYING_SCHEDULES else "stop"

    def replace(self, **changes) -> Recipe:
        return dataclasses.replace(self, **changes)

    def smoke(self) -> Recipe:
        """A variant that runs end to end in seconds: 1 epoch on a small slice of the data."""
        changes = {"epochs": 1, "max_chars": 20_000, "max_train_examples": 2048,
                   "max_test_examples": 1024, **self.smoke_overrides,
                   "name": self.name}
        if self.pretrain is not None:
            changes["pretrain"] = dataclasses.replace(self.pretrain, epochs_per_layer=1)
        return self.replace(**changes)

    def to_dict(self) -> dict:
        """The recipe as a record keeps it (``recipe.json``, cards): plain JSON types;
        ``pretrain`` as ``{"kind": ..., ...}``, ``{}`` for none."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out = {k: (v if k == "pretrain" else _plain(v)) for k, v in out.items()}
        out["pretrain"] = self.pretrain.to_dict() if self.pretrain is not None else {}
        return out

    @classmethod
    def from_dict(cls, config: dict) -> Recipe:
        """The recipe a record kept (:meth:`to_dict`); keys of no field are left out."""
        fields = {f.name for f in dataclasses.fields(cls)}
        config = {k: v for k, v in config.items() if k in fields}
        if isinstance(config.get("image_size"), list):
            config["image_size"] = tuple(config["image_size"])
        config["pretrain"] = pretraining_from_dict(config.get("pretrain"))
        return cls(**config)


def _plain(value):
    return copy.deepcopy(value)


# --- registry ---------------------------------------------------------------------------

_RECIPES: dict[str, Recipe] = {}
_LOADED = False


def register_recipe(recipe: Recipe) -> Recipe:
    if recipe.name in _RECIPES and _RECIPES[recipe.name] != recipe:
        raise ConfigError(f"A recipe named '{recipe.name}' is already registered. "
                         f"Received: name={recipe.name!r}")
    _RECIPES[recipe.name] = recipe
    return recipe


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    package = importlib.import_module("kdl._recipes")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"kdl._recipes.{info.name}")
        recipe = getattr(module, "RECIPE", None)
        if isinstance(recipe, Recipe):
            register_recipe(recipe)
    _LOADED = True


def list_recipes(pattern: str = "*") -> list[str]:
    _load_all()
    return sorted(n for n in _RECIPES if fnmatch.fnmatchcase(n, pattern))


def get_recipe(name: str) -> Recipe:
    """A shipped recipe by name, or the ``RECIPE`` of a recipe file (a path ending in .py)."""
    if is_recipe_file(name):
        return load_recipe_file(name)
    _load_all()
    if name not in _RECIPES:
        raise ConfigError(unknown_name_message("recipe", name, _RECIPES))
    return _RECIPES[name]


def is_shipped(name: str) -> bool:
    """Whether ``name`` is one of kdl's own recipes (its card lives with kdl's)."""
    _load_all()
    return name in _RECIPES


# --- recipe files outside the package ---------------------------------------------------------

def is_recipe_file(name: str) -> bool:
    return isinstance(name, str) and (name.endswith(".py") or os.sep in name)


def load_recipe_file(path: str) -> Recipe:
    """The ``RECIPE`` (a :class:`Recipe`) defined by the Python file at ``path``, with its
    ``origin`` set to the file and its SHA-256 (kept in the run's provenance). The file runs
    as a module: it is the user's own code, as a Model Garden config file is."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise ConfigError(f"No recipe file at {path}. Received: recipe={path!r}")
    with open(path, "rb") as f:
        source = f.read()
    digest = hashlib.sha256(source).hexdigest()
    spec = importlib.util.spec_from_file_location(f"kdl_user_recipe_{digest[:12]}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's file: any error in it is theirs, said in one line
        raise ConfigError(f"The recipe file {path} failed to run: {type(e).__name__}: {e}. "
                          f"Received: recipe={path!r}") from None
    recipe = getattr(module, "RECIPE", None)
    if not isinstance(recipe, Recipe):
        found = type(recipe).__name__ if recipe is not None else "nothing"
        raise ConfigError(f"The recipe file {path} must define RECIPE = kdl.recipes.Recipe(...); "
                          f"it defines {found} by that name. Received: recipe={path!r}")
    _load_all()
    if recipe.name in _RECIPES:
        raise ConfigError(f"The recipe file {path} names its recipe '{recipe.name}', the name of "
                          f"one of kdl's own: choose another name (its card would replace kdl's). "
                          f"Received: name={recipe.name!r}")
    return recipe.replace(origin=f"file:{path} sha256:{digest}")


def recipe_file_path(recipe: Recipe) -> str | None:
    """The path of the file ``recipe`` came from, or None."""
    if not recipe.origin.startswith("file:"):
        return None
    return recipe.origin[len("file:"):].rsplit(" sha256:", 1)[0]


def write_new_recipe_file(recipe: Recipe, directory: str, command: str) -> str | None:
    """For a recipe made by ``--from BASE --name NEW`` (its ``origin`` says so), its file in
    ``directory`` (:func:`write_recipe_file`), made by ``command``; None for any other."""
    if not recipe.origin.startswith("from:"):
        return None
    return write_recipe_file(recipe, directory, f"made by `{command}`.")


def write_recipe_file(recipe: Recipe, directory: str, note: str) -> str:
    """Write ``recipe`` as ``directory/NAME.py``, a recipe file that ``kdl train PATH`` runs
    again, ``note`` (how it was made) in its docstring. Returns the path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{recipe.name}.py")
    config = recipe.replace(origin="").to_dict()
    config.pop("origin", None)
    text = (f'"""Recipe {recipe.name}: {note}\n\nRun: ``kdl train {os.path.basename(path)}``."""\n\n'
            "from kdl.recipes import Recipe\n\n"
            f"RECIPE = Recipe.from_dict({pprint.pformat(config, width=96, sort_dicts=False)})\n")
    return write_text(path, text)


# --- overrides from the command line ------------------------------------------------------

def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        if text.lower() in ("none", "null"):
            return None
        return text


def _coerce(key: str, current, value):
    """``value`` as the type of ``current``, or a ValueError naming both."""
    if current is None or value is None:
        return value
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(current, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(current, str):
        if isinstance(value, str):
            return value
    elif isinstance(current, tuple | list):
        if isinstance(value, tuple | list):
            return tuple(value)
    elif isinstance(current, dict):
        if isinstance(value, dict):
            return value
    else:
        return value
    raise ConfigError(
        f"Wrong type for '{key}': expected {type(current).__name__}. "
        f"Received: {key}={value!r}"
    )


def apply_overrides(recipe: Recipe, assignments: list[str]) -> Recipe:
    """Apply ``key=value`` assignments; ``a.b=value`` sets key b of dict field a."""
    fields = {f.name: f for f in dataclasses.fields(Recipe)}
    changes: dict[str, Any] = {}
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"--set needs key=value. Received: {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        value = _parse_value(text)
        top, _, sub = key.partition(".")
        if top not in fields or top == "name":
            matches = close_matches(top, [f for f in fields if f != "name"])
            hint = f" Did you mean: {', '.join(matches)}?" if matches else ""
            raise ConfigError(f"Unknown recipe key '{key}'.{hint} Received: {item!r}")
        current = changes.get(top, getattr(recipe, top))
        if top == "pretrain":  # a typed value: a kind and its fields, or None
            changes[top] = _set_pretraining(current, sub, value, item) if sub else \
                pretraining_from_dict(value)
        elif sub:
            if not isinstance(current, dict):
                raise ConfigError(f"'{top}' is not a dict, so '{key}' cannot be set. Received: {item!r}")
            inner = current.get(sub)
            changes[top] = {**current, sub: _coerce(key, inner, value)}
        elif top == "freeze":  # a mode's name or a number of layers: checked with the recipe
            changes[top] = value
        else:
            if top in ("target", "image_size") and value is not None:
                current = current if current is not None else value
            changes[top] = _coerce(key, current, value)
    return recipe.replace(**changes) if changes else recipe


def _set_pretraining(current, key: str, value, item: str):
    """``pretrain.KEY=value``: a field of the recipe's pretraining (``kind`` picks one)."""
    if key == "kind":
        return pretraining_from_dict({"kind": value})
    if current is None:
        raise ConfigError(f"This recipe has no pretraining, so '{item.split('=')[0]}' cannot be "
                         f"set; set pretrain.kind=sdae first. Received: {item!r}")
    names = [f.name for f in dataclasses.fields(current)]
    if key not in names:
        matches = close_matches(key, names)
        hint = f" Did you mean: {', '.join(matches)}?" if matches else ""
        raise ConfigError(f"Unknown recipe key 'pretrain.{key}'.{hint} Received: {item!r}")
    return dataclasses.replace(current, **{key: _coerce(f"pretrain.{key}",
                                                        getattr(current, key), value)})
