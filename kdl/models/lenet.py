"""LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998), as in the course's listing.

conv 6@5x5 (same padding on 28x28) -> pool -> conv 16@5x5 -> pool -> dense 120 -> 84
-> classes: 61,706 parameters at (28, 28, 1) with 10 classes. ReLU and max pooling by
default; ``activation="tanh", subsampling="average"`` gives the 1998 paper's choices.
Run it with ``kdl train lenet5_fashion_mnist``.
"""

from __future__ import annotations

import keras

from kdl.models._common import (check_activation, check_choice, check_classifier_args,
                                finish_classifier, image_input)
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
    name: str = "lenet5",
) -> keras.Model:
    """LeNet-5. ``subsampling`` is "max" or "average" pooling between the convolutions."""
    check_classifier_args(include_top=include_top, weights=weights, classes=classes,
                          pooling=pooling, classifier_activation=classifier_activation)
    check_activation("activation", activation)
    check_choice("subsampling", subsampling, ("max", "average"))
    inputs, input_tensor = image_input(input_tensor, input_shape, (28, 28, 1), 10, "lenet5")
    pool = keras.layers.MaxPooling2D if subsampling == "max" else keras.layers.AveragePooling2D
    x = keras.layers.Conv2D(6, 5, padding="same", activation=activation, name="conv1")(inputs)
    x = pool(2, name="pool1")(x)
    x = keras.layers.Conv2D(16, 5, activation=activation, name="conv2")(x)
    x = pool(2, name="pool2")(x)

    def head(x):
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(120, activation=activation, name="fc1")(x)
        return keras.layers.Dense(84, activation=activation, name="fc2")(x)

    return finish_classifier(inputs, x, include_top=include_top, pooling=pooling,
                             classes=classes, classifier_activation=classifier_activation,
                             weights=weights, name=name, input_tensor=input_tensor, head=head)
