"""What the engine does to a built model before training: the course's penalties on its
layers, and weight normalization's data-dependent initialization."""

from __future__ import annotations

import keras

from kdl.tasks import DataBundle


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def apply_regularizers(model: keras.Model, recipe) -> int:
    """The course's penalties, added to the loss: ``l1`` and ``l2`` on every Dense and
    Conv kernel (not biases), ``activity_l1`` on every hidden layer's output ("sparse
    features"). Set on the layers, so they are saved in ``.keras`` and reload with the
    model. Returns how many layers got one."""
    count = 0
    kernel_reg = keras.regularizers.L1L2(l1=recipe.l1, l2=recipe.l2) \
        if recipe.l1 or recipe.l2 else None
    activity_reg = keras.regularizers.L1(recipe.activity_l1) if recipe.activity_l1 else None
    for layer in _all_layers(model):
        if kernel_reg is not None and isinstance(getattr(layer, "kernel", None), keras.Variable) \
                and hasattr(layer, "kernel_regularizer"):
            layer.kernel_regularizer = kernel_reg
            layer.kernel.regularizer = kernel_reg
            count += 1
        activation = getattr(layer, "activation", None)
        if activity_reg is not None and layer.name != "predictions" and activation is not None \
                and getattr(activation, "__name__", "") not in ("linear", "softmax"):
            layer.activity_regularizer = activity_reg
            count += 1
    return count


def initialize_data_dependent(model: keras.Model, data: DataBundle) -> int:
    """Weight normalization's data-dependent init (Salimans and Kingma 2016, section 3)
    on the first training batch, for every ``WeightNormalization(data_init=True)`` layer.
    Returns how many layers were initialized."""
    from kdl.layers import WeightNormalization, initialize_weight_norm

    if not any(isinstance(layer, WeightNormalization) and layer.data_init
               for layer in _all_layers(model)):
        return 0
    x = next(iter(data.train))[0]
    return initialize_weight_norm(model, x)
