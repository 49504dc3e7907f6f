"""Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words"), the
course's last model, at DeiT's "tiny" size (Touvron et al. 2021): patch embedding by a
strided convolution, a learned ``[class]`` token and position embeddings, pre-norm
encoder blocks of ``keras.layers.MultiHeadAttention`` and a GELU MLP, a final layer norm.

``vit_tiny()`` is DeiT-Ti: 16x16 patches at 224x224x3, width 192, 12 blocks of 3 heads,
MLP 768: 5,717,416 parameters with 1000 classes, the count of timm's
``vit_tiny_patch16_224``. Run it with ``kdl train vit_tiny_fashion_mnist``.
"""

from __future__ import annotations

import keras

from kdl.layers import ClassToken, PositionEmbedding
from kdl.models._common import (
    check_choice,
    check_classifier_args,
    check_initializer,
    check_positive_int,
    check_rate,
    finish_classifier,
    image_input,
)
from kdl.models._registry import register_model


def encoder_block(x, *, num_heads: int, mlp_dim: int, dropout: float, attention_dropout: float,
                  kernel_initializer, name: str):
    """Pre-norm Transformer block: x + MHA(LN(x)); then x + MLP(LN(x))."""
    layers = keras.layers
    dim = x.shape[-1]
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(x)
    y = layers.MultiHeadAttention(num_heads, dim // num_heads, dropout=attention_dropout,
                                  kernel_initializer=kernel_initializer,
                                  name=f"{name}_attention")(y, y)
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_attention_dropout")(y)
    x = layers.Add(name=f"{name}_add1")([x, y])
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(x)
    y = layers.Dense(mlp_dim, activation="gelu", kernel_initializer=kernel_initializer,
                     name=f"{name}_mlp1")(y)
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_mlp_dropout1")(y)
    y = layers.Dense(dim, kernel_initializer=kernel_initializer, name=f"{name}_mlp2")(y)
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_mlp_dropout2")(y)
    return layers.Add(name=f"{name}_add2")([x, y])


@register_model()
def vit_tiny(
    include_top: bool = True,
    weights=None,
    input_tensor=None,
    input_shape=(224, 224, 3),
    pooling=None,
    classes: int = 1000,
    classifier_activation="softmax",
    patch_size: int = 16,
    hidden_dim: int = 192,
    depth: int = 12,
    num_heads: int = 3,
    mlp_dim: int = 768,
    dropout: float = 0.0,
    attention_dropout: float = 0.0,
    representation: str = "token",
    kernel_initializer="glorot_uniform",
    name: str = "vit_tiny",
) -> keras.Model:
    """A Vision Transformer. Image height and width must be multiples of ``patch_size``.

    ``representation``: what the classifier reads, the ``[class]`` token ("token", the
    paper's) or the mean of the patch tokens ("gap", often better on small data sets).
    With ``include_top=False`` the model returns the normalized tokens
    ``[batch, 1 + patches, hidden_dim]``, or with ``pooling="avg"``/``"max"`` their
    mean/max over tokens.
    """
    check_initializer("kernel_initializer", kernel_initializer)
    check_classifier_args(include_top=include_top, weights=weights, classes=classes,
                          pooling=pooling, classifier_activation=classifier_activation)
    for arg, value in (("patch_size", patch_size), ("hidden_dim", hidden_dim), ("depth", depth),
                       ("num_heads", num_heads), ("mlp_dim", mlp_dim)):
        check_positive_int(arg, value)
    if hidden_dim % num_heads:
        raise ValueError("`hidden_dim` must be a multiple of `num_heads`. "
                         f"Received: hidden_dim={hidden_dim}, num_heads={num_heads}")
    check_rate("dropout", dropout)
    check_rate("attention_dropout", attention_dropout)
    check_choice("representation", representation, ("token", "gap"))
    inputs, input_tensor = image_input(input_tensor, input_shape, (224, 224, 3), patch_size,
                                       "vit_tiny")
    height, width = inputs.shape[1], inputs.shape[2]
    if height is None or width is None or height % patch_size or width % patch_size:
        raise ValueError("`input_shape` height and width must be known multiples of "
                         f"`patch_size`. Received: input_shape={tuple(inputs.shape[1:])}, "
                         f"patch_size={patch_size}")
    layers = keras.layers
    x = layers.Conv2D(hidden_dim, patch_size, strides=patch_size,
                      kernel_initializer=kernel_initializer, name="patch_embedding")(inputs)
    x = layers.Reshape(((height // patch_size) * (width // patch_size), hidden_dim),
                       name="patches")(x)
    x = ClassToken(name="class_token")(x)
    x = PositionEmbedding(name="position_embedding")(x)
    if dropout:
        x = layers.Dropout(dropout, name="embedding_dropout")(x)
    for i in range(depth):
        x = encoder_block(x, num_heads=num_heads, mlp_dim=mlp_dim, dropout=dropout,
                          attention_dropout=attention_dropout,
                          kernel_initializer=kernel_initializer, name=f"block{i + 1}")
    x = layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)

    def class_token(tokens):
        tokens = layers.Cropping1D((0, tokens.shape[1] - 1), name="class_token_output")(tokens)
        return layers.Flatten(name="representation")(tokens)

    return finish_classifier(inputs, x, include_top=include_top, pooling=pooling,
                             classes=classes, classifier_activation=classifier_activation,
                             weights=weights, name=name, input_tensor=input_tensor,
                             head=class_token if representation == "token" else None,
                             sequence=True)
