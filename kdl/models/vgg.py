"""VGG (Simonyan and Zisserman 2015): configurations A, B, D and E as vgg11/13/16/19.

Layer names and parameter counts are keras.applications' (vgg16: 138,357,544 and
vgg19: 143,667,240 at (224, 224, 3) with 1000 classes), so its weight files load by
name. ``batch_norm=True`` adds batch normalization after every convolution;
``dropout`` (the paper's 0.5) sits before each fully connected layer, and
``fc_units`` shrinks the head for small images. Run ``kdl train vgg16_fashion_mnist``.
"""

from __future__ import annotations


import keras

from kdl.models._common import (
    check_initializer,
    check_classifier_args,
    check_positive_int,
    check_rate,
    check_width_multiplier,
    finish_classifier,
    image_input,
)
from kdl.models._registry import register_variant

# Keras' own (not measured against kdl.layers.BatchNormalization on VGG; it did not pay on
# ResNet-20). benchmarks/batch_norm.py swaps this name.
BatchNormalization = keras.layers.BatchNormalization

_CONFIGS = {
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
_FILTERS = (64, 128, 256, 512, 512)


def _vgg(
    convs_per_block,
    include_top: bool = True,
    weights=None,
    input_tensor=None,
    input_shape=(224, 224, 3),
    pooling=None,
    classes: int = 1000,
    classifier_activation="softmax",
    batch_norm: bool = False,
    dropout: float = 0.0,
    fc_units: int = 4096,
    width_multiplier: float = 1.0,
    kernel_initializer="glorot_uniform",
    name: str = "vgg",
) -> keras.Model:
    check_initializer("kernel_initializer", kernel_initializer)
    check_classifier_args(include_top=include_top, weights=weights, classes=classes,
                          pooling=pooling, classifier_activation=classifier_activation)
    check_positive_int("fc_units", fc_units)
    check_rate("dropout", dropout)
    check_width_multiplier(width_multiplier)
    inputs, input_tensor = image_input(input_tensor, input_shape, (224, 224, 3), 32, name)
    x = inputs
    for b, (n, filters) in enumerate(zip(convs_per_block, _FILTERS, strict=True), start=1):
        filters = max(1, int(round(filters * width_multiplier)))
        for c in range(1, n + 1):
            prefix = f"block{b}_conv{c}"
            if batch_norm:
                x = keras.layers.Conv2D(filters, 3, padding="same",
                                        kernel_initializer=kernel_initializer, name=prefix)(x)
                x = BatchNormalization(name=f"{prefix}_bn")(x)
                x = keras.layers.Activation("relu", name=f"{prefix}_relu")(x)
            else:
                x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                        kernel_initializer=kernel_initializer, name=prefix)(x)
        x = keras.layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)

    def head(x):
        x = keras.layers.Flatten(name="flatten")(x)
        for i in (1, 2):
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
            x = keras.layers.Dense(fc_units, activation="relu", kernel_initializer=kernel_initializer, name=f"fc{i}")(x)
        return x

    return finish_classifier(inputs, x, include_top=include_top, pooling=pooling,
                             classes=classes, classifier_activation=classifier_activation,
                             weights=weights, name=name, input_tensor=input_tensor, head=head)


def _register(variant: str):
    return register_variant(variant, _vgg, _CONFIGS[variant],
                            doc=f"VGG {variant[3:]}-layer (Simonyan and Zisserman 2015).")


vgg11 = _register("vgg11")
vgg13 = _register("vgg13")
vgg16 = _register("vgg16")
vgg19 = _register("vgg19")
