"""Stacked denoising autoencoder with greedy layer-wise pretraining.

Vincent, Larochelle, Lajoie, Bengio and Manzagol 2010, "Stacked Denoising Autoencoders:
Learning Useful Representations in a Deep Network with a Local Denoising Criterion".
Each hidden layer is trained, in turn, as a denoising autoencoder on the codes of the
layer below (masking or Gaussian corruption), then the stack is fine-tuned as a
classifier. Run it with ``kdl train sdae_fashion_mnist``.

    model = get_model("stacked_denoising_autoencoder")
    pretrain_stacked_denoising_autoencoder(model, x_train)   # greedy, in place
    model.fit(x_train, y_train)                              # fine-tuning
"""

from __future__ import annotations

import keras
import numpy as np

from kdl.layers import MaskingNoise
from kdl.models._common import check_activation, check_choice, check_classifier_args, check_initializer, flat_input
from kdl.models._registry import register_model
from kdl.models.mlp import check_units

HIDDEN_PREFIX = "sdae_dense_"


@register_model()
def stacked_denoising_autoencoder(
    include_top: bool = True,
    weights=None,
    input_tensor=None,
    input_shape=(28, 28, 1),
    classes: int = 10,
    classifier_activation="softmax",
    hidden_units=(500, 500, 500),
    activation="sigmoid",
    kernel_initializer="glorot_uniform",
    name: str = "stacked_denoising_autoencoder",
) -> keras.Model:
    """The SDAE's encoder stack, with a classifier on top when ``include_top``.

    The paper's networks use sigmoid units and 1,000-unit layers on MNIST; the default
    here is three 500-unit layers.
    """
    check_classifier_args(include_top=include_top, weights=weights, classes=classes,
                          pooling=None, classifier_activation=classifier_activation)
    hidden_units = check_units("hidden_units", hidden_units)
    check_activation("activation", activation)
    check_initializer("kernel_initializer", kernel_initializer)
    inputs, x = flat_input(input_tensor, input_shape)
    for i, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, activation=activation, kernel_initializer=kernel_initializer,
                               name=f"{HIDDEN_PREFIX}{i}")(x)
    source = keras.utils.get_source_inputs(inputs) if input_tensor is not None else inputs
    model = keras.Model(source, x, name=name)
    if include_top:
        model = stack_to_classifier(model, classes, classifier_activation, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def hidden_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The stack's hidden Dense layers, bottom to top."""
    found = [layer for layer in model.layers if layer.name.startswith(HIDDEN_PREFIX)]
    if not found:
        raise ValueError(
            f"The model has no '{HIDDEN_PREFIX}*' layers: is it a stacked denoising "
            f"autoencoder? Received: model.name={model.name!r}"
        )
    return sorted(found, key=lambda layer: int(layer.name[len(HIDDEN_PREFIX):]))


def stack_to_classifier(stack: keras.Model, classes: int,
                        classifier_activation="softmax", name: str | None = None) -> keras.Model:
    """Put a ``classes``-way Dense classifier on top of a (pretrained) encoder stack."""
    check_classifier_args(include_top=True, weights=None, classes=classes, pooling=None,
                          classifier_activation=classifier_activation)
    top = hidden_layers(stack)[-1].output
    outputs = keras.layers.Dense(classes, activation=classifier_activation,
                                 name="predictions")(top)
    inputs = stack.inputs[0] if len(stack.inputs) == 1 else stack.inputs
    return keras.Model(inputs, outputs, name=name or stack.name)


def _as_array(data) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):  # batches of x or (x, y)
        parts = [item[0] if isinstance(item, tuple) else item
                 for item in data.as_numpy_iterator()]
        return np.concatenate(parts)
    return np.asarray(data)


def pretrain_stacked_denoising_autoencoder(
    model: keras.Model,
    data,
    *,
    epochs_per_layer: int = 3,
    batch_size: int = 256,
    corruption: str = "masking",
    corruption_level: float = 0.25,
    learning_rate: float = 1e-3,
    seed: int = 0,
    verbose: int = 0,
    callbacks=None,
) -> list[dict]:
    """Greedy layer-wise pretraining of ``model``'s hidden layers, in place.

    Layer k is trained as a denoising autoencoder: its input (the clean codes of the
    layers below, already pretrained) is corrupted by masking noise (a fraction
    ``corruption_level`` of inputs zeroed) or Gaussian noise (std ``corruption_level``),
    encoded by the layer and decoded by a throw-away Dense layer, under a squared-error
    reconstruction loss on the clean input.

    ``data``: inputs as the model takes them (e.g. images scaled to [0, 1]), as an
    array or a tf.data.Dataset of batches (``x`` or ``(x, y)``).

    ``callbacks``: Keras callbacks given to each layer's ``fit`` (e.g. a progress line).

    Returns one dict per layer: its name and the clean reconstruction loss before and
    after its pretraining.
    """
    check_choice("corruption", corruption, ("masking", "gaussian"))
    if epochs_per_layer <= 0:
        raise ValueError(
            f"`epochs_per_layer` must be positive. Received: epochs_per_layer={epochs_per_layer!r}"
        )
    x = _as_array(data).astype("float32")
    x = x.reshape(len(x), -1)
    report = []
    for k, layer in enumerate(hidden_layers(model), start=1):
        d_in = x.shape[-1]
        inputs = keras.Input(shape=(d_in,), name=f"dae{k}_input")
        if corruption == "masking":
            noisy = MaskingNoise(corruption_level, seed=seed + k, name=f"dae{k}_noise")(inputs)
        else:
            noisy = keras.layers.GaussianNoise(corruption_level, seed=seed + k,
                                               name=f"dae{k}_noise")(inputs)
        code = layer(noisy)
        # The first layer reconstructs pixels in [0, 1]; upper layers reconstruct codes.
        out_act = "sigmoid" if k == 1 and x.min() >= 0 and x.max() <= 1 else None
        recon = keras.layers.Dense(d_in, activation=out_act, name=f"dae{k}_decoder")(code)
        dae = keras.Model(inputs, recon, name=f"dae{k}")
        dae.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
        before = float(dae.evaluate(x, x, batch_size=1024, verbose=0))
        dae.fit(x, x, epochs=epochs_per_layer, batch_size=batch_size, shuffle=True,
                verbose=verbose, callbacks=list(callbacks or []))
        after = float(dae.evaluate(x, x, batch_size=1024, verbose=0))
        report.append({"layer": layer.name, "loss_before": before, "loss_after": after})
        x = keras.Model(inputs, layer(inputs)).predict(x, batch_size=1024, verbose=0)
    return report
