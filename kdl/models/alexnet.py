"""AlexNet (Krizhevsky, Sutskever and Hinton 2012), as in the course's listing.

conv 64@11x11/4 pad 2 -> maxpool 3/2 -> conv 192@5x5 pad 2 -> maxpool -> conv 384@3x3
-> conv 256@3x3 -> conv 256@3x3 -> maxpool -> dropout -> dense 4096 -> dropout ->
dense 4096 -> classes: 61,100,840 parameters at (224, 224, 3) with 1000 classes (the
single-tower form torchvision also uses). ``local_response_normalization=True`` adds
the paper's LRN after the first two convolutions. Needs inputs of at least 63x63.
Run it with ``kdl train alexnet_fashion_mnist``.
"""

from __future__ import annotations

import keras

from kdl.layers import LocalResponseNormalization
from kdl.models._common import check_classifier_args, check_initializer, check_rate, finish_classifier, image_input
from kdl.models._registry import register_model


@register_model()
def alexnet(
    include_top: bool = True,
    weights=None,
    input_tensor=None,
    input_shape=(224, 224, 3),
    pooling=None,
    classes: int = 1000,
    classifier_activation="softmax",
    dropout: float = 0.5,
    local_response_normalization: bool = False,
    kernel_initializer="glorot_uniform",
    name: str = "alexnet",
) -> keras.Model:
    check_initializer("kernel_initializer", kernel_initializer)
    check_classifier_args(include_top=include_top, weights=weights, classes=classes,
                          pooling=pooling, classifier_activation=classifier_activation)
    check_rate("dropout", dropout)
    inputs, input_tensor = image_input(input_tensor, input_shape, (224, 224, 3), 63, "alexnet")
    layers = keras.layers
    x = layers.ZeroPadding2D(2, name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 11, strides=4, activation="relu", kernel_initializer=kernel_initializer, name="conv1")(x)
    if local_response_normalization:
        x = LocalResponseNormalization(name="conv1_lrn")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = layers.Conv2D(192, 5, padding="same", activation="relu", kernel_initializer=kernel_initializer, name="conv2")(x)
    if local_response_normalization:
        x = LocalResponseNormalization(name="conv2_lrn")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = layers.Conv2D(384, 3, padding="same", activation="relu", kernel_initializer=kernel_initializer, name="conv3")(x)
    x = layers.Conv2D(256, 3, padding="same", activation="relu", kernel_initializer=kernel_initializer, name="conv4")(x)
    x = layers.Conv2D(256, 3, padding="same", activation="relu", kernel_initializer=kernel_initializer, name="conv5")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)

    def head(x):
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dropout(dropout, name="fc1_dropout")(x)
        x = layers.Dense(4096, activation="relu", kernel_initializer=kernel_initializer, name="fc1")(x)
        x = layers.Dropout(dropout, name="fc2_dropout")(x)
        return layers.Dense(4096, activation="relu", kernel_initializer=kernel_initializer, name="fc2")(x)

    return finish_classifier(inputs, x, include_top=include_top, pooling=pooling,
                             classes=classes, classifier_activation=classifier_activation,
                             weights=weights, name=name, input_tensor=input_tensor, head=head)
