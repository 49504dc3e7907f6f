"""What every image classifier shares: keras.applications' arguments, checked first.

``include_top``, ``weights`` (None or a path to a weights file: kdl never
downloads), ``input_tensor``, ``input_shape``, ``pooling``, ``classes``,
``classifier_activation`` and ``name`` mean what they mean in
``keras.applications``.
"""

from __future__ import annotations

import os

import keras

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "silu",
               "leaky_relu", "relu6", "softplus", "linear")


def check_choice(arg: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(
            f"`{arg}` must be one of {', '.join(map(str, choices))}. Received: {arg}={value!r}"
        )


def check_initializer(arg: str, value) -> None:
    import random

    # Making a seedless Keras initializer draws its seed from Python's global generator:
    # checking must not shift the seeds of the weights built after it.
    state = random.getstate()
    try:
        keras.initializers.get(value)
    except (ValueError, TypeError):
        raise ValueError(f"Unknown initializer for `{arg}`. Received: {arg}={value!r}") from None
    finally:
        random.setstate(state)


def check_positive_int(arg: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{arg}` must be a positive integer. Received: {arg}={value!r}")


def check_rate(arg: str, value) -> None:
    """A dropout-like rate in [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"`{arg}` must be in [0, 1). Received: {arg}={value!r}")


def check_width_multiplier(value) -> None:
    if not value > 0:
        raise ValueError(
            f"`width_multiplier` must be positive. Received: width_multiplier={value!r}"
        )


def check_activation(arg: str, value) -> None:
    if callable(value):
        return
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"Unknown activation for `{arg}`. Received: {arg}={value!r}"
        ) from None


def check_classifier_args(*, include_top: bool, weights, classes, pooling,
                          classifier_activation) -> None:
    if weights is not None and not (isinstance(weights, str | os.PathLike)
                                    and os.path.exists(weights)):
        raise ValueError(
            "`weights` must be None or the path to an existing weights file "
            f"(kdl never downloads weights). Received: weights={weights!r}"
        )
    if include_top:
        check_positive_int("classes", classes)
    check_choice("pooling", pooling, (None, "avg", "max"))
    if classifier_activation is not None:
        check_activation("classifier_activation", classifier_activation)


def image_input(input_tensor, input_shape, default_shape, min_size: int, arg_model: str):
    """The model's input, from ``input_tensor`` or ``input_shape``, checked for size."""
    if input_tensor is not None:  # the tensor's shape wins over the default input_shape
        input_shape = tuple(input_tensor.shape[1:])
    shape = tuple(input_shape) if input_shape is not None else tuple(default_shape)
    if len(shape) != 3:
        raise ValueError(
            "`input_shape` must be (height, width, channels). "
            f"Received: input_shape={input_shape!r}"
        )
    height, width, channels = shape
    if height is not None and width is not None and min(height, width) < min_size:
        raise ValueError(
            f"`input_shape` is too small for {arg_model}: height and width must be "
            f"at least {min_size}. Received: input_shape={input_shape!r}"
        )
    if channels is None or channels <= 0:
        raise ValueError(
            f"`input_shape` needs a known, positive number of channels. "
            f"Received: input_shape={input_shape!r}"
        )
    if input_tensor is None:
        return keras.Input(shape=shape, name="input"), None
    if not keras.backend.is_keras_tensor(input_tensor):
        return keras.Input(tensor=input_tensor, shape=shape, name="input"), input_tensor
    return input_tensor, input_tensor


def flat_input(input_tensor, input_shape):
    """``(model inputs, flattened tensor)`` for the Dense-first models (MLP, SDAE)."""
    if input_tensor is not None:
        inputs = input_tensor
    else:
        if input_shape is None or any(d is None or d <= 0 for d in input_shape):
            raise ValueError(
                f"`input_shape` must be fully known and positive. "
                f"Received: input_shape={input_shape!r}"
            )
        inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(inputs.shape) > 2 else inputs
    return inputs, x


def finish_classifier(inputs, x, *, include_top, pooling, classes, classifier_activation,
                      weights, name, input_tensor, head=None, sequence: bool = False):
    """Add the head (or pooling), build the Model, load ``weights`` if given.
    ``sequence``: ``x`` is [batch, tokens, dim] (pooled over tokens), not a feature map."""
    layers = keras.layers
    average, maximum = (layers.GlobalAveragePooling1D, layers.GlobalMaxPooling1D) if sequence \
        else (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D)
    if include_top:
        if head is not None:
            x = head(x)
        else:
            x = average(name="avg_pool")(x)
        x = keras.layers.Dense(classes, activation=classifier_activation,
                               name="predictions")(x)
    elif pooling == "avg":
        x = average(name="avg_pool")(x)
    elif pooling == "max":
        x = maximum(name="max_pool")(x)
    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model
