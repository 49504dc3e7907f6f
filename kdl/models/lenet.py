"""LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998), as in the course's listing.

conv 6@5x5 (same padding on 28x28) -> pool -> conv 16@5x5 -> pool -> dense 120 -> 84
-> classes: 61,706 parameters at (28, 28, 1) with 10 classes. ReLU and max pooling by
default; ``activation="tanh", subsampling="average"`` gives the 1998 paper's choices.
Run it with ``kdl train lenet5_fashion_mnist``.
"""

from __future__ import annotations

import keras

# kdl's: LeNet-5's 6-channel batch norm is where Keras' broadcasts are slowest
# (benchmarks/batch_norm.py).
from kdl.layers import BatchNormalization
from kdl.models._common import (
    check_initializer,
    check_activation,
    check_choice,
    check_classifier_args,
    check_rate,
    finish_classifier,
    image_input,
)
from kdl.models._registry import register_model


@register_model()
def lenet5(
    include_top: bool = True,
    weights=None,
    input_tensor=None,
    input_shape=(28, 28, 1),
    pooling=None,
    classes: int = 10,
    classifier_activation="softmax",
    activation="relu",
    subsampling: str = "max",
    batch_norm: bool = False,
    batch_norm_position: str = "before_pooling",
    dropout: float = 0.0,
    kernel_initializer="glorot_uniform",
    name: str = "lenet5",
) -> keras.Model:
    """LeNet-5. ``subsampling`` is "max" or "average" pooling between the convolutions.

    ``batch_norm`` (after each convolution, before its activation) and ``dropout``
    (before each fully connected layer) are modern additions, off by default.
    ``batch_norm_position="after_pooling"`` pools each convolution's output first, then
    normalizes and activates it: with max pooling, ReLU and a positive batch-norm scale
    the same function (both commute with max), with batch statistics over the pooled
    values, at a quarter of the elements (``benchmarks/batch_norm.py``).
    """
    check_initializer("kernel_initializer", kernel_initializer)
    check_classifier_args(include_top=include_top, weights=weights, classes=classes,
                          pooling=pooling, classifier_activation=classifier_activation)
    check_activation("activation", activation)
    check_choice("subsampling", subsampling, ("max", "average"))
    check_choice("batch_norm_position", batch_norm_position, ("before_pooling", "after_pooling"))
    check_rate("dropout", dropout)
    inputs, input_tensor = image_input(input_tensor, input_shape, (28, 28, 1), 10, "lenet5")
    pool = keras.layers.MaxPooling2D if subsampling == "max" else keras.layers.AveragePooling2D

    late = batch_norm and batch_norm_position == "after_pooling"

    def conv(x, filters, padding, name, pool_name):
        if not batch_norm:
            x = keras.layers.Conv2D(filters, 5, padding=padding, activation=activation,
                                    kernel_initializer=kernel_initializer, name=name)(x)
            return pool(2, name=pool_name)(x)
        x = keras.layers.Conv2D(filters, 5, padding=padding, use_bias=False,
                                kernel_initializer=kernel_initializer, name=name)(x)
        if late:
            x = pool(2, name=pool_name)(x)
        x = BatchNormalization(name=f"{name}_bn")(x)
        x = keras.layers.Activation(activation, name=f"{name}_act")(x)
        return x if late else pool(2, name=pool_name)(x)

    x = conv(inputs, 6, "same", "conv1", "pool1")
    x = conv(x, 16, "valid", "conv2", "pool2")

    def head(x):
        x = keras.layers.Flatten(name="flatten")(x)
        for units, layer_name in ((120, "fc1"), (84, "fc2")):
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"{layer_name}_dropout")(x)
            x = keras.layers.Dense(units, activation=activation,
                                   kernel_initializer=kernel_initializer, name=layer_name)(x)
        return x

    return finish_classifier(inputs, x, include_top=include_top, pooling=pooling,
                             classes=classes, classifier_activation=classifier_activation,
                             weights=weights, name=name, input_tensor=input_tensor, head=head)
