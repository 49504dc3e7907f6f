"""Autoencoders of the course: dense and convolutional.

The returned model is the whole autoencoder; its encoder and decoder are sub-models,
reachable as ``model.encoder`` / ``model.decoder`` (and ``model.get_layer("encoder")``
after a reload). Run ``kdl train autoencoder_fashion_mnist``.
"""

from __future__ import annotations

import math

import keras

from kdl.models._common import check_activation, check_initializer, check_positive_int
from kdl.models._registry import register_model
from kdl.models.mlp import check_units


def _image_shape(input_shape):
    shape = tuple(input_shape)
    if len(shape) != 3 or any(d is None or d <= 0 for d in shape):
        raise ValueError(
            "`input_shape` must be a fully known (height, width, channels). "
            f"Received: input_shape={input_shape!r}"
        )
    return shape


def _assemble(encoder, decoder, shape, name, weights):
    inputs = keras.Input(shape=shape, name="input")
    model = keras.Model(inputs, decoder(encoder(inputs)), name=name)
    model.encoder = encoder
    model.decoder = decoder
    if weights is not None:
        model.load_weights(weights)
    return model


def _check_weights(weights):
    import os
    if weights is not None and not os.path.exists(weights):
        raise ValueError(
            f"`weights` must be None or the path to an existing weights file. "
            f"Received: weights={weights!r}"
        )


@register_model()
def autoencoder(
    input_shape=(28, 28, 1),
    hidden_units=(256,),
    code_size: int = 32,
    activation="relu",
    output_activation="sigmoid",
    weights=None,
    kernel_initializer="glorot_uniform",
    name: str = "autoencoder",
) -> keras.Model:
    """Dense autoencoder: Flatten -> hidden -> code -> mirrored hidden -> image.

    ``output_activation="sigmoid"`` expects targets scaled to [0, 1].
    """
    shape = _image_shape(input_shape)
    hidden_units = check_units("hidden_units", hidden_units)
    check_positive_int("code_size", code_size)
    check_activation("activation", activation)
    check_activation("output_activation", output_activation)
    check_initializer("kernel_initializer", kernel_initializer)
    _check_weights(weights)
    enc_in = keras.Input(shape=shape, name="encoder_input")
    x = keras.layers.Flatten(name="flatten")(enc_in)
    for i, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, activation=activation,
                               kernel_initializer=kernel_initializer, name=f"enc_dense_{i}")(x)
    code = keras.layers.Dense(code_size, activation=activation, kernel_initializer=kernel_initializer, name="code")(x)
    encoder = keras.Model(enc_in, code, name="encoder")

    dec_in = keras.Input(shape=(code_size,), name="decoder_input")
    x = dec_in
    for i, units in enumerate(reversed(hidden_units), start=1):
        x = keras.layers.Dense(units, activation=activation,
                               kernel_initializer=kernel_initializer, name=f"dec_dense_{i}")(x)
    x = keras.layers.Dense(math.prod(shape), activation=output_activation,
                           kernel_initializer=kernel_initializer, name="dec_out")(x)
    decoder = keras.Model(dec_in, keras.layers.Reshape(shape, name="image")(x), name="decoder")
    return _assemble(encoder, decoder, shape, name, weights)


@register_model()
def conv_autoencoder(
    input_shape=(28, 28, 1),
    filters=(32, 64),
    code_size: int | None = None,
    activation="relu",
    output_activation="sigmoid",
    weights=None,
    kernel_initializer="glorot_uniform",
    name: str = "conv_autoencoder",
) -> keras.Model:
    """Convolutional autoencoder: strided 3x3 convolutions down, transposed ones up.

    Each stage halves height and width, so they must divide by 2**len(filters).
    With ``code_size`` the code is a dense vector; otherwise the last feature map.
    """
    shape = _image_shape(input_shape)
    filters = check_units("filters", filters)
    check_activation("activation", activation)
    check_activation("output_activation", output_activation)
    check_initializer("kernel_initializer", kernel_initializer)
    _check_weights(weights)
    factor = 2 ** len(filters)
    if shape[0] % factor or shape[1] % factor:
        raise ValueError(
            f"`input_shape` height and width must divide by {factor} for {len(filters)} "
            f"stride-2 stages. Received: input_shape={input_shape!r}"
        )
    if code_size is not None:
        check_positive_int("code_size", code_size)
    enc_in = keras.Input(shape=shape, name="encoder_input")
    x = enc_in
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2D(f, 3, strides=2, padding="same", activation=activation,
                                kernel_initializer=kernel_initializer, name=f"enc_conv_{i}")(x)
    feature_shape = tuple(x.shape[1:])
    if code_size is not None:
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(code_size, activation=activation, kernel_initializer=kernel_initializer, name="code")(x)
    encoder = keras.Model(enc_in, x, name="encoder")

    dec_in = keras.Input(shape=tuple(x.shape[1:]), name="decoder_input")
    y = dec_in
    if code_size is not None:
        y = keras.layers.Dense(math.prod(feature_shape), activation=activation,
                               kernel_initializer=kernel_initializer, name="dec_dense")(y)
        y = keras.layers.Reshape(feature_shape, name="dec_reshape")(y)
    for i, f in enumerate(reversed(filters), start=1):
        y = keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation=activation,
                                         kernel_initializer=kernel_initializer,
                                         name=f"dec_deconv_{i}")(y)
    y = keras.layers.Conv2D(shape[-1], 3, padding="same", activation=output_activation,
                            kernel_initializer=kernel_initializer, name="dec_out")(y)
    decoder = keras.Model(dec_in, y, name="decoder")
    return _assemble(encoder, decoder, shape, name, weights)
