"""LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998), as in the course's listing.

conv 6@5x5 (same padding on 28x28) -> pool -> conv 16@5x5 -> pool -> dense 120 -> 84
-> classes: 61,706 parameters at (28, 28, 1) with 10 classes. ReLU and max pooling by
default; ``activation="tanh", subsampling="average"`` gives the 1998 paper's choices.
Run it with ``kdl train lenet5_fashion_mnist``.
"""

from __future__ import annotations

import keras

# kdl's: LeNet-5's 6-channel batch norm is where Keras' broadcasts are slowest; the recipe
# trained 1.34x faster (benchmarks/batch_norm.py; README: Performance).
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
    dropout: float = 0.0,
    kernel_initializer="glorot_uniform",
    name: str = "lenet5",
) -> keras.Model:
    """LeNet-5. ``subsampling`` is "max" or "average" pooling between the convolutions.

    ``batch_norm`` (after each convolution, before its activation) and ``dropout``
    (before each fully connected layer) are modern additions, off by default.
    """
    check_initializer("kernel_initializer", kernel_initializer)
    check_classifier_args(include_top=include_top, weights=weights, classes=classes,
                          pooling=pooling, classifier_activation=classifier_activation)
    check_activation("activation", activation)
    check_choice("subsampling", subsampling, ("max", "average"))
    check_rate("dropout", dropout)
    inputs, input_tensor = image_input(input_tensor, input_shape, (28, 28, 1), 10, "lenet5")
    pool = keras.layers.MaxPooling2D if subsampling == "max" else keras.layers.AveragePooling2D

    def conv(x, filters, padding, name):
        if not batch_norm:
            return keras.layers.Conv2D(filters, 5, padding=padding, activation=activation,
                                       kernel_initializer=kernel_initializer, name=name)(x)
        x = keras.layers.Conv2D(filters, 5, padding=padding, use_bias=False,
                                kernel_initializer=kernel_initializer, name=name)(x)
        x = BatchNormalization(name=f"{name}_bn")(x)
        return keras.layers.Activation(activation, name=f"{name}_act")(x)

    x = conv(inputs, 6, "same", "conv1")
    x = pool(2, name="pool1")(x)
    x = conv(x, 16, "valid", "conv2")
    x = pool(2, name="pool2")(x)

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
