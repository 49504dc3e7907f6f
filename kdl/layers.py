"""Custom layers of the course that Keras 3 does not ship.

- ``WeightNormalization`` (Salimans and Kingma 2016, "Weight Normalization: A Simple
  Reparameterization to Accelerate Training of Deep Neural Networks"): w = g * v / ||v||
  for Dense and Conv layers, with the paper's data-dependent initialization.
  Keras 3 has no weight normalization, and tensorflow-addons' wrapper does not work
  with Keras 3: this fills that gap.
- ``LocalResponseNormalization`` (Krizhevsky, Sutskever and Hinton 2012, section 3.3),
  for AlexNet; same numbers as ``tf.nn.local_response_normalization``, but a Keras
  layer (serializable, ``keras.ops`` only).
- ``BatchNormalization``: Keras' own, with a faster training step for channels-last images
  on TensorFlow's CPU kernels (same weights, names and numbers; ``benchmarks/batch_norm.py``).
- ``ZeroPadShortcut``: the parameter-free "option A" shortcut of He et al. 2016
  (section 4.2), for the CIFAR ResNets.
- ``Flip``: a deterministic flip (Keras' ``RandomFlip`` is random and off at inference),
  for test-time augmentation (``with_test_time_flip``).
- ``ClassToken`` and ``PositionEmbedding``: the Vision Transformer's learned ``[class]``
  token and position embeddings (Dosovitskiy et al. 2021), for ``vit_tiny``.

All are ``keras.ops`` only and registered with ``package="kdl"`` so a ``.keras``
file reloads under ``safe_mode=True``. Importing this module registers ``kdl.losses``
too, so ``import kdl.layers`` is all a compiled kdl model's ``.keras`` file needs.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

import kdl.losses  # noqa: F401  (registers kdl's losses for .keras files; see above)

_WRAPPABLE = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


@keras.saving.register_keras_serializable(package="kdl")
class WeightNormalization(keras.layers.Wrapper):
    """Reparameterize a Dense or Conv layer's kernel as w = g * v / ||v||.

    The wrapped layer's own kernel is v; g holds one scale per output unit and
    starts at ||v||, so a freshly wrapped layer computes what the plain one did.
    With ``data_init=True``, :func:`initialize_weight_norm` sets g and the bias
    from a batch so that pre-activations have zero mean and unit variance
    (the paper's section 3).

    Example:
        >>> layer = WeightNormalization(keras.layers.Dense(64, activation="relu"))
    """

    def __init__(self, layer, data_init: bool = False, epsilon: float = 1e-12, **kwargs):
        if not isinstance(layer, _WRAPPABLE) or type(layer).__name__.endswith("Transpose"):
            raise ValueError(
                "WeightNormalization wraps Dense, Conv1D, Conv2D or Conv3D layers. "
                f"Received: layer={layer!r}"
            )
        if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D | keras.layers.Conv3D) \
                and getattr(layer, "groups", 1) != 1:
            raise ValueError(
                f"WeightNormalization supports convolutions with groups=1. "
                f"Received: groups={layer.groups}"
            )
        if data_init and not layer.use_bias:
            raise ValueError(
                "data_init=True needs a bias in the wrapped layer (it sets b = -mean/std). "
                f"Received: use_bias={layer.use_bias}"
            )
        super().__init__(layer, **kwargs)
        self.data_init = bool(data_init)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        kernel = self.layer.kernel
        self._norm_axes = tuple(range(len(kernel.shape) - 1))
        units = kernel.shape[-1]
        norm = np.sqrt(np.sum(np.square(ops.convert_to_numpy(kernel)), axis=self._norm_axes))
        self.g = self.add_weight(
            name="g",
            shape=(units,),
            initializer=keras.initializers.Constant(norm),
            trainable=True,
        )
        self.built = True

    def _direction(self):
        v = self.layer.kernel
        norm = ops.sqrt(ops.sum(ops.square(v), axis=self._norm_axes) + self.epsilon)
        return v / norm

    def _linear(self, inputs, kernel):
        layer = self.layer
        if isinstance(layer, keras.layers.Dense):
            return ops.matmul(inputs, ops.cast(kernel, inputs.dtype))
        return ops.conv(
            inputs,
            ops.cast(kernel, inputs.dtype),
            strides=layer.strides,
            padding=layer.padding,
            data_format=layer.data_format,
            dilation_rate=layer.dilation_rate,
        )

    def _add_bias(self, outputs):
        layer = self.layer
        if not layer.use_bias:
            return outputs
        bias = ops.cast(layer.bias, outputs.dtype)
        if isinstance(layer, keras.layers.Dense) or layer.data_format == "channels_last":
            return outputs + bias
        shape = (1, -1) + (1,) * (len(outputs.shape) - 2)
        return outputs + ops.reshape(bias, shape)

    def _unit_axis(self, outputs):
        layer = self.layer
        if isinstance(layer, keras.layers.Dense) or layer.data_format == "channels_last":
            return len(outputs.shape) - 1
        return 1

    def call(self, inputs):
        kernel = self._direction() * self.g
        outputs = self._add_bias(self._linear(inputs, kernel))
        if self.layer.activation is not None:
            outputs = self.layer.activation(outputs)
        return outputs

    def initialize_from_batch(self, inputs) -> None:
        """Data-dependent init (eager): g = 1/std, b = -mean/std of v.x/||v|| on ``inputs``."""
        if not self.built:
            self.build(tuple(inputs.shape))
        t = ops.convert_to_numpy(self._linear(ops.convert_to_tensor(inputs), self._direction()))
        axis = self._unit_axis(t)
        reduce_axes = tuple(i for i in range(t.ndim) if i != axis)
        mean = t.mean(axis=reduce_axes)
        std = t.std(axis=reduce_axes)
        scale = 1.0 / (std + 1e-6)
        self.g.assign(scale.astype(self.g.dtype))
        self.layer.bias.assign((-mean * scale).astype(self.layer.bias.dtype))

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"data_init": self.data_init, "epsilon": self.epsilon})
        return config


def initialize_weight_norm(model: keras.Model, batch) -> int:
    """Run the paper's data-dependent init on every ``data_init`` layer of ``model``.

    Layers are initialized in order, each on the outputs of the layers before it
    (already initialized), as Salimans and Kingma do. Returns how many were set.
    """
    count = 0
    for layer in model.layers:
        if isinstance(layer, WeightNormalization) and layer.data_init:
            if len(model.inputs) == 1 and layer.input is model.inputs[0]:
                x = batch
            else:
                inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
                x = keras.Model(inputs, layer.input)(batch, training=False)
            layer.initialize_from_batch(x)
            count += 1
    return count


@keras.saving.register_keras_serializable(package="kdl")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (Krizhevsky et al. 2012).

    b = a / (bias + alpha * sum_{j=c-r}^{c+r} a_j^2) ** beta, over the last axis,
    exactly as ``tf.nn.local_response_normalization``. The defaults are the paper's
    (n = 5 so depth_radius = 2, k = 2, alpha = 1e-4, beta = 0.75).
    """

    def __init__(self, depth_radius: int = 2, bias: float = 2.0, alpha: float = 1e-4,
                 beta: float = 0.75, **kwargs):
        super().__init__(**kwargs)
        if isinstance(depth_radius, bool) or not isinstance(depth_radius, int) \
                or depth_radius < 0:
            raise ValueError(
                "`depth_radius` must be a non-negative integer. "
                f"Received: depth_radius={depth_radius!r}"
            )
        self.depth_radius = depth_radius
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        # The sum over the 2r+1 neighbouring channels as one matmul with a band matrix:
        # faster than shifted slices.
        channels = inputs.shape[-1]
        index = np.arange(channels)
        band = (np.abs(index[:, None] - index[None, :]) <= self.depth_radius)
        window_sum = ops.matmul(ops.square(inputs), ops.cast(band, inputs.dtype))
        denominator = self.bias + self.alpha * window_sum
        # d ** -0.75 as rsqrt(d) * sqrt(rsqrt(d)): faster than ops.power and than
        # TensorFlow's fused LRN op.
        if self.beta == 0.75:
            inverse_root = ops.rsqrt(denominator)
            scale = inverse_root * ops.sqrt(inverse_root)
        elif self.beta == 0.5:
            scale = ops.rsqrt(denominator)
        elif self.beta == 1.0:
            scale = ops.reciprocal(denominator)
        else:
            scale = ops.power(denominator, -self.beta)
        return inputs * scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"depth_radius": self.depth_radius, "bias": self.bias,
                       "alpha": self.alpha, "beta": self.beta})
        return config


@keras.saving.register_keras_serializable(package="kdl")
class BatchNormalization(keras.layers.BatchNormalization):
    """Keras' ``BatchNormalization`` (same arguments, weights, names and numbers), with
    a faster training step for channels-last images on TensorFlow's CPU kernels.

    Keras 3 normalizes by broadcasting per-channel vectors of C values over (N, H, W, C):
    TensorFlow's CPU kernels do that, and the column reduction for the batch moments,
    slowly when C is small (LeNet-5's 6 channels). Here the batch is viewed as
    (N, H*W*C) rows and the per-channel values tiled to one row of H*W*C, so every
    broadcast is over rows and every reduction over rows first (``benchmarks/batch_norm.py``
    times both inside whole recipes). Same two-pass variance as ``tf.nn.moments``. Everything else
    (inference, masks, renorm, synchronized, other axes and backends) is Keras' own.
    """

    def _fast_path(self, inputs, training, mask) -> bool:
        return (bool(training) and self.trainable and mask is None and not self.renorm
                and not self.synchronized and keras.backend.backend() == "tensorflow"
                and len(inputs.shape) == 4 and self.axis in (-1, 3)
                and None not in inputs.shape[1:])

    def call(self, inputs, training=None, mask=None):
        if not self._fast_path(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        height, width, channels = inputs.shape[1:]
        positions = height * width
        x = ops.reshape(ops.cast(inputs, "float32"), (-1, positions * channels))
        count = ops.cast(ops.shape(x)[0] * positions, "float32")

        def per_channel_sum(rows):  # (n, H*W*C) -> (C,)
            return ops.sum(ops.reshape(ops.sum(rows, axis=0), (positions, channels)), axis=0)

        mean = per_channel_sum(x) / count
        centered = x - ops.tile(mean, (positions,))
        variance = per_channel_sum(ops.square(centered)) / count
        self.moving_mean.assign(self.moving_mean * self.momentum
                                + ops.stop_gradient(mean) * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum
                                    + ops.stop_gradient(variance) * (1.0 - self.momentum))
        scale = ops.rsqrt(variance + self.epsilon)
        if self.scale:
            scale = scale * ops.cast(self.gamma, "float32")
        outputs = centered * ops.tile(scale, (positions,))
        if self.center:
            outputs = outputs + ops.tile(ops.cast(self.beta, "float32"), (positions,))
        outputs = ops.reshape(outputs, ops.shape(inputs))
        return ops.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package="kdl")
class ZeroPadShortcut(keras.layers.Layer):
    """He et al. 2016's option-A shortcut: subsample by ``strides``, zero-pad channels."""

    def __init__(self, filters: int, strides: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)

    def call(self, inputs):
        s = self.strides
        x = inputs[:, ::s, ::s, :] if s > 1 else inputs
        extra = self.filters - inputs.shape[-1]
        if extra > 0:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
        return x

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        s = self.strides
        h = None if h is None else (h + s - 1) // s
        w = None if w is None else (w + s - 1) // s
        return (n, h, w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "strides": self.strides})
        return config


@keras.saving.register_keras_serializable(package="kdl")
class MaskingNoise(keras.layers.Layer):
    """Masking corruption of Vincent et al. 2010: zero a random fraction ``rate`` of inputs.

    Unlike Dropout it does not rescale the kept values: the denoising autoencoder must
    recover the clean input from what is left. Active only in training.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        keep = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) >= self.rate
        return ops.where(keep, inputs, ops.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="kdl")
class Flip(keras.layers.Layer):
    """Reverse ``axis`` of every input, in training and inference alike.

    ``axis=2`` on ``[batch, height, width, channels]`` images is a horizontal (left-right)
    flip; ``axis=1`` a vertical one.
    """

    def __init__(self, axis: int = 2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int) or axis == 0:
            raise ValueError(f"`axis` must be a non-batch axis (a non-zero integer). Received: axis={axis!r}")
        self.axis = axis

    def call(self, inputs):
        return ops.flip(inputs, axis=self.axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis})
        return config


def with_test_time_flip(model: keras.Model, axis: int = 2, name: str | None = None) -> keras.Model:
    """``model`` averaged over its input and the input flipped along ``axis``.

    Test-time augmentation (Krizhevsky et al. 2012, section 4.1, averaged predictions over
    reflections): the returned model shares ``model``'s weights, outputs the mean of the
    two probability vectors, and saves and exports like any functional model.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError("`model` must have one input and one output. Received: "
                         f"{len(model.inputs)} inputs and {len(model.outputs)} outputs")
    rank = len(model.inputs[0].shape)
    if not 1 <= (axis if axis > 0 else rank + axis) < rank:
        raise ValueError(f"`axis` must be a non-batch axis of the input (rank {rank}). Received: axis={axis!r}")
    inputs = keras.Input(shape=model.inputs[0].shape[1:], dtype=model.inputs[0].dtype,
                         name=model.inputs[0].name)
    flipped = Flip(axis, name="test_time_flip")(inputs)
    outputs = keras.layers.Average(name="test_time_average")([model(inputs), model(flipped)])
    return keras.Model(inputs, outputs, name=name or f"{model.name}_flip_tta")


@keras.saving.register_keras_serializable(package="kdl")
class ClassToken(keras.layers.Layer):
    """Prepend one learned token to a sequence ``[batch, tokens, dim]`` (ViT's ``[class]``
    token, Dosovitskiy et al. 2021, eq. 1), initialized at zero as in the reference code."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros",
                                     name="token")

    def call(self, inputs):
        token = ops.broadcast_to(ops.cast(self.token, inputs.dtype),
                                 (ops.shape(inputs)[0], 1, ops.shape(inputs)[-1]))
        return ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape):
        n, tokens, dim = input_shape
        return (n, None if tokens is None else tokens + 1, dim)


@keras.saving.register_keras_serializable(package="kdl")
class PositionEmbedding(keras.layers.Layer):
    """Add a learned embedding per position to ``[batch, tokens, dim]`` (ViT's E_pos),
    truncated-normal initialized with std ``stddev`` (0.02, as in ViT and DeiT)."""

    def __init__(self, stddev: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.stddev = float(stddev)

    def build(self, input_shape):
        if input_shape[1] is None:
            raise ValueError("PositionEmbedding needs a known number of tokens. "
                             f"Received: input_shape={input_shape!r}")
        self.embedding = self.add_weight(
            shape=(1, input_shape[1], input_shape[2]), name="embedding",
            initializer=keras.initializers.TruncatedNormal(stddev=self.stddev))

    def call(self, inputs):
        return inputs + ops.cast(self.embedding, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": self.stddev})
        return config
