"""Fine-tuning: a run that starts from a trained model's weights (``recipe.init_from``).

The sources, as keras-hub's ``from_preset`` and timm's ``pretrained_cfg`` take them, but
all local: a run's workdir (its ``model.keras``), an export version (the ``model.keras``
kdl writes beside the SavedModel), a ``.keras`` file, a Keras ``.weights.h5`` file (Keras
keys those by layer order, so only the same architecture reads one), or ``card:NAME``,
the weights kdl ships with a card (:func:`kdl.models.get_model` ``weights="card:NAME"``).

Weights go in by layer name (:func:`kdl.models._weights.transfer_weights`): a classifier
of another class count gets a new ``predictions`` layer, and the run says so in one line
(``loaded 9/10 layers; new: predictions``). ``freeze`` keeps loaded layers fixed
(``"backbone"``: all but the head; N: the first N layers with trainable weights), for the
whole run or until ``unfreeze_epoch``, after which everything trains at the recipe's rate
(the frozen phase's rate is ``learning_rate * head_learning_rate_multiplier``): Keras'
transfer-learning guide's two phases. The run's record names its parent (kind, path,
SHA-256): a card measured on a fine-tuned model says what it started from.
"""

from __future__ import annotations

import dataclasses
import glob
import os

from kdl.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class InitSource:
    kind: str  # "card", "run", "export", "keras", "weights"
    path: str  # the file the weights come from
    name: str  # what the recipe said

    def record(self) -> dict:
        from kdl.card_store import sha256_file

        return {"init_from": self.name, "kind": self.kind, "path": self.path,
                "sha256": sha256_file(self.path)}


def _latest_version(directory: str) -> str | None:
    versions = [d for d in os.listdir(directory) if d.isdigit()
                and os.path.isfile(os.path.join(directory, d, "model.keras"))]
    return os.path.join(directory, max(versions, key=int)) if versions else None


def check_init_from(init_from) -> InitSource:
    """Where ``init_from`` points, checked to exist (one line when it does not)."""
    if not isinstance(init_from, str) or not init_from.strip():
        raise ConfigError(f"`init_from` must be a run's workdir, an export version, a .keras or "
                          f".weights.h5 file, or card:NAME. Received: init_from={init_from!r}")
    if init_from.startswith("card:"):
        from kdl.card_store import card_weights

        _, _, path = card_weights(init_from[len("card:"):])
        return InitSource("card", path, init_from)
    path = os.path.abspath(os.path.expanduser(init_from))
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            keras_file = os.path.join(path, "model.keras")
            if not os.path.isfile(keras_file):
                raise ConfigError(f"The export {init_from} has no model.keras beside its "
                                  f"SavedModel (exports before kdl kept one): start from its run's "
                                  f"workdir instead. Received: init_from={init_from!r}")
            return InitSource("export", keras_file, init_from)
        if os.path.isfile(os.path.join(path, "model.keras")):
            return InitSource("run", os.path.join(path, "model.keras"), init_from)
        latest = _latest_version(path)
        if latest:  # saved_models/NAME: its newest version
            return InitSource("export", os.path.join(latest, "model.keras"), init_from)
        found = ", ".join(os.path.basename(p) for p in sorted(glob.glob(os.path.join(path, "*")))[:3])
        raise ConfigError(f"{init_from} holds no trained model (no model.keras; found: "
                          f"{found or 'nothing'}). Received: init_from={init_from!r}")
    if os.path.isfile(path):
        if path.endswith(".weights.h5"):
            return InitSource("weights", path, init_from)
        if path.endswith(".keras"):
            return InitSource("keras", path, init_from)
        raise ConfigError(f"`init_from` file must be a .keras or .weights.h5 file. Received: "
                          f"init_from={init_from!r}")
    raise ConfigError(f"`init_from` {init_from} does not exist. Received: init_from={init_from!r}")


def _network_shape(input_shape, image_size) -> tuple:
    """What the network behind the input front sees: (H, W) resized to ``image_size``."""
    input_shape = tuple(input_shape)
    return (*(tuple(image_size) if image_size else input_shape[:2]), input_shape[-1])


def model_network_shape(model) -> tuple:
    resize = next((layer for layer in model.layers if layer.name == "resize"), None)
    size = (resize.height, resize.width) if resize is not None else None
    return _network_shape(model.input_shape[1:], size)


def source_input_shape(source: InitSource) -> tuple | None:
    """The image shape the source's network takes (None where only loading it can say)."""
    if source.kind == "card":
        from kdl.card_store import card_weights

        card, entry, _ = card_weights(source.name[len("card:"):])
        return _network_shape(entry["input_shape"], card["config"].get("image_size"))
    return None


def load_source_model(source: InitSource):
    """The source as a Keras model (None for a bare ``.weights.h5``, which only loads into
    the same architecture)."""
    import keras

    if source.kind == "weights":
        return None
    if source.kind == "card":
        from kdl.models._registry import get_model_builder
        from kdl.models._weights import load_card_weights

        return load_card_weights(source.name[len("card:"):], get_model_builder)
    import kdl.data.augment  # noqa: F401  (registers kdl's serializable layers)
    import kdl.layers  # noqa: F401

    try:
        return keras.saving.load_model(source.path, compile=False, safe_mode=True)
    except Exception as e:  # a damaged or foreign file: what Keras says, in one line
        raise ConfigError(f"Cannot load {source.path} as a Keras model ({type(e).__name__}: "
                          f"{' '.join(str(e).split())[:200]}). Received: init_from={source.name!r}"
                          ) from None


def check_input_shape(recipe, data_shape) -> None:
    """Refuse (one line) an ``init_from`` whose network takes other images than this run's
    (its data's ``data_shape`` at the recipe's ``image_size``), unless
    ``recipe.adapt_input``; shapes only loading can tell are checked at load."""
    source = check_init_from(recipe.init_from)
    theirs = source_input_shape(source)
    if theirs is not None:
        _check_shapes(recipe, source, theirs, _network_shape(data_shape, recipe.image_size))


def _check_shapes(recipe, source: InitSource, theirs, mine) -> None:
    if tuple(theirs) == tuple(mine) or recipe.adapt_input:
        return
    hint = (f"set image_size=({theirs[0]}, {theirs[1]}) to resize, " if tuple(theirs[:2]) != tuple(mine[:2])
            else "")
    raise ConfigError(f"init_from {recipe.init_from} takes {'x'.join(map(str, theirs))} images and "
                      f"this run's are {'x'.join(map(str, mine))}: {hint}or set adapt_input=True "
                      f"to adapt the first layer. Received: init_from={recipe.init_from!r}")


def source_class_names(source: InitSource) -> list | None:
    """The classes the source model was trained on, where its record says."""
    import json

    if source.kind == "card":
        from kdl.card_store import card_weights

        return card_weights(source.name[len("card:"):])[1].get("class_names")
    for meta in ("kdl.json", "result.json"):
        path = os.path.join(os.path.dirname(source.path), meta)
        if source.kind in ("export", "run") and os.path.isfile(path):
            with open(path) as f:
                names = json.load(f).get("class_names")
            if names:
                return list(names)
    return None


def initialize_from(model, recipe, class_names=None) -> tuple[dict, str]:
    """Load ``recipe.init_from`` into ``model`` by layer name; returns the parent record and
    the one-line load report. Where the source's classes are known and are not
    ``class_names``, its head is not loaded: the new classes get a new classifier."""
    from kdl.models._weights import LoadReport, named_layers, transfer_weights

    source = check_init_from(recipe.init_from)
    source_model = load_source_model(source)
    if source_model is None:
        try:
            model.load_weights(source.path)
        except Exception as e:
            raise ConfigError(f"{source.path} does not fit this model ({type(e).__name__}): a "
                              f".weights.h5 file loads only into the architecture that wrote it "
                              f"(Keras keys its weights by layer order); start from that run's "
                              f"model.keras. Received: init_from={recipe.init_from!r}") from None
        report = LoadReport(tuple(named_layers(model)), ())
    else:
        _check_shapes(recipe, source, model_network_shape(source_model),
                      model_network_shape(model))
        theirs = source_class_names(source)
        other_classes = class_names is not None and theirs is not None and \
            [str(c) for c in theirs] != [str(c) for c in class_names]
        head = list(named_layers(model))[-1:] if other_classes else []
        report = transfer_weights(source_model, model, adapt_input=recipe.adapt_input, skip=head)
        if not report.loaded:
            raise ConfigError(f"No layer of {recipe.init_from} matches this model's by name and "
                              f"shape ({report.total} layers): another architecture. Received: "
                              f"init_from={recipe.init_from!r}")
    parent = {**source.record(), "loaded": list(report.loaded), "new": list(report.new),
              "adapted": list(report.adapted)}
    return parent, report.line()


def frozen_layers(model, recipe, new=()) -> list:
    """The layers ``recipe.freeze`` keeps fixed: none; all with trainable weights but the
    last (the head) and ``new`` ones (``"backbone"``); or the first N with trainable weights."""
    from kdl.models._weights import named_layers

    layers = [(name, layer) for name, layer in named_layers(model).items()
              if layer.trainable_weights]
    if recipe.freeze in ("none", 0) or not layers:
        return []
    if recipe.freeze == "backbone":
        head = {layers[-1][0], *new}
        return [layer for name, layer in layers if name not in head]
    return [layer for _, layer in layers[:recipe.freeze]]


def set_frozen(layers, frozen: bool) -> None:
    for layer in layers:
        layer.trainable = not frozen
