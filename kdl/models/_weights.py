"""Weights by layer name: from a trained model into another, and kdl's shipped weights.

Keras' own ``.weights.h5`` files are keyed by each layer's place and class (``conv2d_1``),
not by its name, so loading one needs the very architecture that wrote it. Fine-tuning
needs more: the weights of one model (a run, an export, a card) in a model with a new
head. :func:`transfer_weights` matches layers by name (through nested models), copies
those whose weights have the same shapes, and reports the rest as new; the course's first
layer can be adapted to another channel count (timm's ``adapt_input_conv``: the kernel
summed over RGB for grey, repeated and divided for RGB).

:func:`build_card_model` is the model a card's shipped weights belong to: the recipe's
input front (raw pixels in [0, 255], its normalization, its resizing) and its network,
built the same way when the weights are written (``--record``) and when they are loaded
(``get_model(NAME, weights="card:CARD")``), so Keras' own ``load_weights`` reads them.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class LoadReport:
    """What :func:`transfer_weights` did: ``loaded`` of ``total`` layers with weights;
    ``new`` (no layer of that name, or other shapes), ``adapted`` (first layer)."""

    loaded: tuple[str, ...]
    new: tuple[str, ...]
    adapted: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return len(self.loaded) + len(self.new)

    def line(self) -> str:
        text = f"loaded {len(self.loaded)}/{self.total} layers"
        if self.adapted:
            text += f" ({', '.join(self.adapted)} adapted to the input's channels)"
        return text + (f"; new: {', '.join(self.new)}" if self.new else "")


def named_layers(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """Every layer with weights, by name, through nested models (a model used as a layer,
    as the test-time-flip wrapper and the autoencoder task use them)."""
    out: dict[str, keras.layers.Layer] = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.update(named_layers(layer))
        elif layer.weights:
            out.setdefault(layer.name, layer)
    return out


def _adapt_kernel(kernel: np.ndarray, channels: int) -> np.ndarray | None:
    """A convolution kernel ``[..., in, out]`` for ``channels`` inputs, or None."""
    have = kernel.shape[-2]
    if have == channels:
        return kernel
    if channels == 1:
        return kernel.sum(axis=-2, keepdims=True)
    if have == 1:
        return np.repeat(kernel, channels, axis=-2) / channels
    return None


def transfer_weights(source: keras.Model, target: keras.Model, *,
                     adapt_input: bool = False, skip=()) -> LoadReport:
    """Copy ``source``'s weights into ``target``'s layers of the same name and shapes,
    but those named in ``skip`` (new, whatever their shapes). With ``adapt_input``, the
    first convolution of ``target`` also takes the source's kernel adapted to its input
    channels."""
    from_layers = named_layers(source)
    loaded, new, adapted = [], [], []
    first_conv = next((name for name, layer in named_layers(target).items()
                       if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)), None)
    for name, layer in named_layers(target).items():
        other = from_layers.get(name) if name not in skip else None
        values = [np.asarray(w) for w in other.get_weights()] if other is not None else None
        shapes = [tuple(w.shape) for w in layer.weights]
        if values is not None and [v.shape for v in values] == shapes:
            layer.set_weights(values)
            loaded.append(name)
        elif values is not None and adapt_input and name == first_conv and len(values) == len(shapes):
            kernel = _adapt_kernel(values[0], shapes[0][-2])
            if kernel is not None and kernel.shape == shapes[0] and all(
                    v.shape == s for v, s in zip(values[1:], shapes[1:], strict=True)):
                layer.set_weights([kernel, *values[1:]])
                loaded.append(name)
                adapted.append(name)
            else:
                new.append(name)
        else:
            new.append(name)
    return LoadReport(tuple(loaded), tuple(new), tuple(adapted))


def input_front(inputs, *, normalization: str | None, image_size=None,
                normalization_layer: keras.layers.Layer | None = None):
    """The recipe's preprocessing inside the model, from raw pixels in [0, 255]:
    ``"scale"`` (1/255), ``"channel"`` or ``"pixel"`` (mean/std: ``normalization_layer``
    adapted on the training split, or an unadapted one whose statistics a weights file
    brings), None; then resizing to ``image_size`` where it differs from the input's."""
    x = inputs
    if normalization == "scale":
        x = keras.layers.Rescaling(1.0 / 255, name="rescale")(x)
    elif normalization in ("channel", "pixel"):
        if normalization_layer is None:
            axis = -1 if normalization == "channel" else (1, 2, 3)
            normalization_layer = keras.layers.Normalization(axis=axis, name="normalization",
                                                             dtype="float32")
        x = normalization_layer(x)
    if image_size is not None and tuple(image_size) != tuple(inputs.shape[1:3]):
        x = keras.layers.Resizing(*image_size, name="resize")(x)
    return x


def build_card_model(config: dict, entry: dict, builder) -> keras.Model:
    """The model a card's weights ``entry`` belongs to: raw images of its ``input_shape``
    in, its ``front`` (the preprocessing its task put before the network: normalization,
    resizing, and whether the network is a nested model, as an autoencoder's is), then the
    network of the recipe ``config``; float32, without test-time flip. ``builder(name)``:
    the registered builder of a model name (the registry's lookup)."""
    front = entry["front"]
    inputs = keras.Input(shape=tuple(entry["input_shape"]), name="image")
    x = input_front(inputs, normalization=front["normalization"],
                    image_size=front.get("image_size"))
    build = builder(config["model"])
    if front.get("nested"):
        net = build(input_shape=tuple(x.shape[1:]), **config["model_args"])
        return keras.Model(inputs, net(x), name=config["model"])
    net = build(input_tensor=x, classes=entry["classes"], **config["model_args"])
    return keras.Model(inputs, net.output, name=net.name)


def load_card_weights(card_name: str, builder, model_name: str | None = None) -> keras.Model:
    """The model card ``card_name``'s shipped weights belong to, with them loaded (their
    SHA-256 checked first); ``model_name``, where given, must be the card's model."""
    from kdl.card_store import card_weights
    from kdl.errors import ConfigError

    card, entry, path = card_weights(card_name)
    config = card["config"]
    if model_name is not None and model_name != config["model"]:
        raise ConfigError(f"The weights of card {card_name} are a {config['model']}, not a "
                          f"{model_name}. Received: get_model({model_name!r}, "
                          f"weights='card:{card_name}')")
    model = build_card_model(config, entry, builder)
    model.load_weights(path)
    return model
