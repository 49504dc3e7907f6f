"""Multilayer perceptron: the course's first network.

Zalando's Fashion-MNIST benchmark row "MLP 256-128-100" is the default shape.
Run it with ``kdl train mlp_fashion_mnist``.
"""

from __future__ import annotations

import keras

from kdl.layers import WeightNormalization
from kdl.models._common import (
    check_initializer,
    check_activation,
    check_classifier_args,
    check_positive_int,
    check_rate,
    flat_input,
)
from kdl.models._registry import register_model


def check_units(arg: str, units) -> tuple[int, ...]:
    units = (units,) if isinstance(units, int) else tuple(units)
    if not units:
        raise ValueError(f"`{arg}` needs at least one layer width. Received: {arg}={units!r}")
    for u in units:
        check_positive_int(arg, u)
    return units


@register_model()
def mlp(
    include_top: bool = True,
    weights=None,
    input_tensor=None,
    input_shape=(28, 28, 1),
    classes: int = 10,
    classifier_activation="softmax",
    hidden_units=(256, 128, 100),
    activation="relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
    kernel_initializer="he_normal",
    weight_norm: bool = False,
    name: str = "mlp",
) -> keras.Model:
    """A fully connected classifier: Flatten -> [Dense -> (BN) -> act -> (Dropout)] * depth.

    Args:
        hidden_units: width of each hidden layer; its length is the depth.
        activation: hidden activation.
        dropout: dropout rate after each hidden layer.
        batch_norm: batch normalization before each activation.
        kernel_initializer: e.g. "glorot_uniform" (Glorot and Bengio 2010) or
            "he_normal" (He et al. 2015, the default, suited to ReLU).
        weight_norm: wrap every Dense in :class:`kdl.layers.WeightNormalization`.
    """
    check_classifier_args(include_top=include_top, weights=weights, classes=classes,
                          pooling=None, classifier_activation=classifier_activation)
    hidden_units = check_units("hidden_units", hidden_units)
    check_activation("activation", activation)
    check_initializer("kernel_initializer", kernel_initializer)
    check_rate("dropout", dropout)
    inputs, x = flat_input(input_tensor, input_shape)
    for i, units in enumerate(hidden_units, start=1):
        dense = keras.layers.Dense(units, kernel_initializer=kernel_initializer,
                                   use_bias=not batch_norm, name=f"dense_{i}")
        if weight_norm:
            # The paper's data-dependent init needs the bias (b = -mean/std); kdl train
            # runs it on the first batch (kdl.engine.regularize.initialize_data_dependent).
            dense = WeightNormalization(dense, data_init=not batch_norm, name=f"dense_{i}_wn")
        x = dense(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"dense_{i}_bn")(x)
        x = keras.layers.Activation(activation, name=f"dense_{i}_act")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dense_{i}_dropout")(x)
    if include_top:
        # Zero weights: uniform predictions, so the untrained loss is exactly log(classes)
        # (He-scaled hidden units on [0, 1] pixels made it 2.9-3.1 with Glorot's here).
        x = keras.layers.Dense(classes, activation=classifier_activation,
                               kernel_initializer="zeros", name="predictions")(x)
    model = keras.Model(keras.utils.get_source_inputs(inputs) if input_tensor is not None
                        else inputs, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model
