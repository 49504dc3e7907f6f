"""ResNet (He, Zhang, Ren and Sun 2016) and its pre-activation form (He et al. 2016b).

- ``resnet18``/``resnet34``: basic blocks (two 3x3 convolutions), torchvision's layout.
- ``resnet50``/``resnet101``/``resnet152``: bottleneck blocks with keras.applications'
  layer names and parameter counts (resnet50: 25,636,712; with ``preact=True``,
  ResNet50V2's 25,613,800), so its weight files load by name.
- ``resnet20``/``32``/``44``/``56``/``110``: the paper's CIFAR networks (section 4.2):
  a 3x3 stem, three stages of 16/32/64 filters with n basic blocks each, and the
  parameter-free option-A shortcut by default (resnet20: about 0.27M parameters);
  ``shortcut=None`` drops every shortcut: the paper's "plain" network of the same layers
  (its figure 1 and 6), the control of ``kdl experiment depth_degradation``.

Run them with ``kdl train resnet20_fashion_mnist`` or ``kdl train resnet18_fashion_mnist``.
"""

from __future__ import annotations


import keras

from kdl.layers import ZeroPadShortcut
from kdl.models._common import (
    check_initializer,
    check_choice,
    check_classifier_args,
    check_width_multiplier,
    finish_classifier,
    image_input,
)
from kdl.models._registry import register_variant

layers = keras.layers
BN_EPSILON = 1.001e-5  # keras.applications' value, kept for weight compatibility
# Keras' own: kdl.layers.BatchNormalization did not train ResNet-20 faster
# (benchmarks/batch_norm.py swaps this name).
BatchNormalization = keras.layers.BatchNormalization


def _bn(name):
    return BatchNormalization(axis=-1, epsilon=BN_EPSILON, name=name)


# --- blocks -----------------------------------------------------------------------------

def _basic_block(x, filters, stride, name, preact, shortcut_kind, kernel_initializer):
    """Two 3x3 convolutions; projection (B) or zero-pad (A) shortcut when shapes change,
    none at all for ``shortcut_kind=None`` (a plain block)."""
    needs_projection = stride != 1 or x.shape[-1] != filters
    if preact:
        pre = _bn(f"{name}_preact_bn")(x)
        pre = layers.Activation("relu", name=f"{name}_preact_relu")(pre)
    else:
        pre = x
    if shortcut_kind is None:
        shortcut = None
    elif needs_projection and shortcut_kind == "A":
        shortcut = ZeroPadShortcut(filters, stride, name=f"{name}_0_pad")(x)
    elif needs_projection:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                 kernel_initializer=kernel_initializer, name=f"{name}_0_conv")(pre)
        if not preact:
            shortcut = _bn(f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                      kernel_initializer=kernel_initializer, name=f"{name}_1_conv")(pre)
    y = _bn(f"{name}_1_bn")(y)
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      kernel_initializer=kernel_initializer, name=f"{name}_2_conv")(y)
    if not preact:
        y = _bn(f"{name}_2_bn")(y)
    if shortcut is not None:
        y = layers.Add(name=f"{name}_add")([shortcut, y])
    if not preact:
        y = layers.Activation("relu", name=f"{name}_out")(y)
    return y


def _bottleneck_block_v1(x, filters, stride, name, conv_shortcut, kernel_initializer):
    """keras.applications.resnet.block1: stride on the first 1x1 convolution."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride,
                                 kernel_initializer=kernel_initializer, name=f"{name}_0_conv")(x)
        shortcut = _bn(f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    y = layers.Conv2D(filters, 1, strides=stride, kernel_initializer=kernel_initializer, name=f"{name}_1_conv")(x)
    y = _bn(f"{name}_1_bn")(y)
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", kernel_initializer=kernel_initializer, name=f"{name}_2_conv")(y)
    y = _bn(f"{name}_2_bn")(y)
    y = layers.Activation("relu", name=f"{name}_2_relu")(y)
    y = layers.Conv2D(4 * filters, 1, kernel_initializer=kernel_initializer, name=f"{name}_3_conv")(y)
    y = _bn(f"{name}_3_bn")(y)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def _bottleneck_block_v2(x, filters, stride, name, conv_shortcut, kernel_initializer):
    """keras.applications.resnet_v2.block2: pre-activation, stride on the 3x3."""
    pre = _bn(f"{name}_preact_bn")(x)
    pre = layers.Activation("relu", name=f"{name}_preact_relu")(pre)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride,
                                 kernel_initializer=kernel_initializer, name=f"{name}_0_conv")(pre)
    elif stride > 1:
        shortcut = layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_pool")(x)
    else:
        shortcut = x
    y = layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=kernel_initializer, name=f"{name}_1_conv")(pre)
    y = _bn(f"{name}_1_bn")(y)
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = layers.ZeroPadding2D(1, name=f"{name}_2_pad")(y)
    y = layers.Conv2D(filters, 3, strides=stride, use_bias=False,
                      kernel_initializer=kernel_initializer, name=f"{name}_2_conv")(y)
    y = _bn(f"{name}_2_bn")(y)
    y = layers.Activation("relu", name=f"{name}_2_relu")(y)
    y = layers.Conv2D(4 * filters, 1, kernel_initializer=kernel_initializer, name=f"{name}_3_conv")(y)
    return layers.Add(name=f"{name}_out")([shortcut, y])


# --- stages -----------------------------------------------------------------------------

def _stages(x, block, depths, filters, first_stride, preact, shortcut_kind, stage_offset,
            kernel_initializer="glorot_uniform"):
    for s, (blocks, f) in enumerate(zip(depths, filters, strict=True)):
        name = f"conv{s + stage_offset}"
        if block == "basic":
            for b in range(blocks):
                stride = (1 if s == 0 else 2) if b == 0 else 1
                if s == 0 and b == 0:
                    stride = first_stride
                x = _basic_block(x, f, stride, f"{name}_block{b + 1}", preact, shortcut_kind,
                                 kernel_initializer)
        elif not preact:
            x = _bottleneck_block_v1(x, f, 1 if s == 0 else 2, f"{name}_block1", True, kernel_initializer)
            for b in range(2, blocks + 1):
                x = _bottleneck_block_v1(x, f, 1, f"{name}_block{b}", False, kernel_initializer)
        else:
            last_stride = 2 if s < len(depths) - 1 else 1
            x = _bottleneck_block_v2(x, f, 1, f"{name}_block1", True, kernel_initializer)
            for b in range(2, blocks):
                x = _bottleneck_block_v2(x, f, 1, f"{name}_block{b}", False, kernel_initializer)
            x = _bottleneck_block_v2(x, f, last_stride, f"{name}_block{blocks}", False, kernel_initializer)
    return x


def _resnet(
    block: str,
    depths,
    include_top: bool = True,
    weights=None,
    input_tensor=None,
    input_shape=(224, 224, 3),
    pooling=None,
    classes: int = 1000,
    classifier_activation="softmax",
    preact: bool = False,
    width_multiplier: float = 1.0,
    stem: str = "imagenet",
    kernel_initializer="glorot_uniform",
    name: str = "resnet",
) -> keras.Model:
    """ImageNet-style ResNet: four stages of 64..512 filters after a stem.

    ``stem="imagenet"``: 7x7 stride-2 convolution and 3x3 stride-2 max pool (He et al.
    2016; keras.applications), a quarter of the resolution gone before the first stage.
    ``stem="small"``: one 3x3 stride-1 convolution and no pool, as the CIFAR ResNet-18s
    of the literature, for 28-32 px images; the layer names stay (``conv1_conv``, ...).
    """
    check_initializer("kernel_initializer", kernel_initializer)
    check_classifier_args(include_top=include_top, weights=weights, classes=classes,
                          pooling=pooling, classifier_activation=classifier_activation)
    check_choice("preact", preact, (True, False))
    check_choice("stem", stem, ("imagenet", "small"))
    check_width_multiplier(width_multiplier)
    min_size = 32 if stem == "imagenet" else 8
    inputs, input_tensor = image_input(input_tensor, input_shape, (224, 224, 3), min_size, name)
    filters = [max(1, int(round(f * width_multiplier))) for f in (64, 128, 256, 512)]
    stem_filters = filters[0]
    use_bias = block == "bottleneck"  # keras.applications keeps the bias; torchvision not
    if stem == "small":
        x = layers.Conv2D(stem_filters, 3, padding="same", use_bias=use_bias,
                          kernel_initializer=kernel_initializer, name="conv1_conv")(inputs)
    else:
        x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
        x = layers.Conv2D(stem_filters, 7, strides=2, use_bias=use_bias,
                          kernel_initializer=kernel_initializer, name="conv1_conv")(x)
    if not preact:
        x = _bn("conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
    if stem == "imagenet":
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = _stages(x, block, depths, filters, 1, preact, "B", 2, kernel_initializer)
    if preact:
        x = _bn("post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)
    return finish_classifier(inputs, x, include_top=include_top, pooling=pooling,
                             classes=classes, classifier_activation=classifier_activation,
                             weights=weights, name=name, input_tensor=input_tensor)


def _cifar_resnet(
    blocks_per_stage: int,
    include_top: bool = True,
    weights=None,
    input_tensor=None,
    input_shape=(32, 32, 3),
    pooling=None,
    classes: int = 10,
    classifier_activation="softmax",
    preact: bool = False,
    shortcut: str | None = "A",
    width_multiplier: float = 1.0,
    kernel_initializer="glorot_uniform",
    name: str = "resnet",
) -> keras.Model:
    """CIFAR ResNet (He et al. 2016, section 4.2): 6n + 2 layers. ``shortcut``: "A"
    (zero-padded identity), "B" (1x1 projections where shapes change) or None (no
    shortcuts: the plain network)."""
    check_initializer("kernel_initializer", kernel_initializer)
    check_classifier_args(include_top=include_top, weights=weights, classes=classes,
                          pooling=pooling, classifier_activation=classifier_activation)
    check_choice("shortcut", shortcut, ("A", "B", None))
    check_width_multiplier(width_multiplier)
    inputs, input_tensor = image_input(input_tensor, input_shape, (32, 32, 3), 8, name)
    filters = [max(1, int(round(f * width_multiplier))) for f in (16, 32, 64)]
    x = layers.Conv2D(filters[0], 3, padding="same", use_bias=False,
                      kernel_initializer=kernel_initializer, name="conv1_conv")(inputs)
    if not preact:
        x = _bn("conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = _stages(x, "basic", (blocks_per_stage,) * 3, filters, 1, preact, shortcut, 2,
                kernel_initializer)
    if preact:
        x = _bn("post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)
    return finish_classifier(inputs, x, include_top=include_top, pooling=pooling,
                             classes=classes, classifier_activation=classifier_activation,
                             weights=weights, name=name, input_tensor=input_tensor)


def _register(variant: str, generic, *args):
    return register_variant(variant, generic, *args,
                            doc=f"{variant} (He et al. 2016); see kdl.models.resnet.")


resnet18 = _register("resnet18", _resnet, "basic", (2, 2, 2, 2))
resnet34 = _register("resnet34", _resnet, "basic", (3, 4, 6, 3))
resnet50 = _register("resnet50", _resnet, "bottleneck", (3, 4, 6, 3))
resnet101 = _register("resnet101", _resnet, "bottleneck", (3, 4, 23, 3))
resnet152 = _register("resnet152", _resnet, "bottleneck", (3, 8, 36, 3))
resnet20 = _register("resnet20", _cifar_resnet, 3)
resnet32 = _register("resnet32", _cifar_resnet, 5)
resnet44 = _register("resnet44", _cifar_resnet, 7)
resnet56 = _register("resnet56", _cifar_resnet, 9)
resnet110 = _register("resnet110", _cifar_resnet, 18)
