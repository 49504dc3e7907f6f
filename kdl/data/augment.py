"""Seeded, composable image augmentation, as Keras layers.

Each transform is a Keras layer: apply it to float batches inside tf.data on the CPU
(:func:`kdl.data.pipeline.make_pipeline` does), or put it inside a model, where it
is active only in training. :func:`build_augmentation` turns a recipe's spec, e.g.
``{"flip": "horizontal", "crop": 2, "elastic": {"alpha": 34, "sigma": 4}, "erasing": 0.5}``,
into one ``keras.layers.Pipeline``. They subclass Keras' ``DataLayer``, as Keras' own
preprocessing layers do: inside tf.data they run on TensorFlow on every Keras backend.

Which are Keras' own and which are kdl's:

- Keras' layers, used as they are: ``RandomFlip``,
  ``RandomRotation``, ``RandomTranslation``, ``RandomZoom``, ``RandomBrightness``,
  ``RandomContrast``, ``RandomColorJitter``.
- Written here, because Keras lacks them or does them differently:
  ``RandomAffine`` (rotation, translation and zoom in one warp, fast on every backend where
  Keras' three layers are slow on JAX; ``"affine"`` in a recipe),
  ``RandomCropWithPadding`` (Keras' ``RandomCrop`` has no padding and draws one offset
  per batch; this draws one per image, as the CIFAR recipes of He et al. 2016 do),
  ``RandomResizedCrop`` (Szegedy et al. 2015's scale and aspect-ratio crop; Keras 3
  has none), and ``RandomElasticDistortion`` (Simard, Steinkraus and Platt 2003: a
  uniform random displacement field smoothed by a Gaussian of width ``sigma`` and
  scaled by ``alpha``; Keras' ``RandomElasticTransform`` ties alpha and sigma to the
  image size and does not expose the paper's two parameters), and
  ``RandomErasingFast`` (Zhong et al. 2020; one grey level per erased rectangle, faster
  than Keras' ``RandomErasing``, which fills per-pixel noise).

The elastic distortion is the pipeline's main cost; its sampling is one stacked pass and
four scalar gathers. ``benchmarks/data_pipeline.py`` and ``benchmarks/augment_backends.py``
measure them; their results are rendered in docs: performance.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
from keras import ops as keras_ops

from kdl._keras_compat import DataLayer
from kdl.errors import ConfigError


class _Ops:
    """``keras.ops``' names on the backend a :class:`DataLayer` runs on: TensorFlow inside
    tf.data (whatever Keras' backend), Keras' own backend inside a model."""

    def __init__(self, backend):
        self._backend = backend
        self.image = backend.image
        self.backend_name = backend._backend  # "tensorflow" inside tf.data

    def __getattr__(self, name):
        for part in ("numpy", "core", "math", "nn"):
            fn = getattr(getattr(self._backend, part), name, None)
            if fn is not None:
                return fn
        return getattr(self._backend, name)


class _AugmentationLayer(DataLayer):
    """A seeded transform that runs in tf.data on every Keras backend (Keras' DataLayer)."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    @property
    def ops(self) -> _Ops:
        return _Ops(self.backend)

    def uniform(self, shape, minval=0.0, maxval=1.0):
        return self.backend.random.uniform(shape, minval=minval, maxval=maxval, dtype="float32",
                                           seed=self._get_seed_generator(self.backend._backend))

    def randint(self, shape, minval, maxval):
        return self.backend.random.randint(shape, minval=minval, maxval=maxval, dtype="int32",
                                           seed=self._get_seed_generator(self.backend._backend))

    def compute_output_shape(self, input_shape):
        return input_shape


def _affine_batch(ops, images, a0, a2, b1, b2, interpolation, fill_value=0.0):
    """Per-image axis-aligned affine warp: output (x, y) <- input (a0 x + a2, b1 y + b2)."""
    zeros = ops.zeros_like(a0)
    transform = ops.stack([a0, zeros, a2, zeros, b1, b2, zeros, zeros], axis=-1)
    if interpolation == "bilinear":
        return _warp(ops, images, transform, fill_value)
    return ops.image.affine_transform(images, transform, interpolation=interpolation,
                                      fill_mode="constant", fill_value=fill_value,
                                      data_format="channels_last")


def _batched(ops, images):
    """Work on a batch; accept one image too."""
    if len(images.shape) == 3:
        return ops.expand_dims(images, 0), True
    return images, False


def _bilinear_sample(ops, x, src, fill_mode: str = "constant", fill_value: float = 0.0):
    """Bilinear sampling of the batch ``x`` [n, h, w, c] (float32) at source coordinates
    ``src`` [2, n, h, w] (rows, then columns), outside the image ``"nearest"`` (edge
    pixels) or ``"constant"`` (``fill_value``), as ``ops.image.affine_transform`` fills.

    Gathers from the image padded by one pixel before and two after: coordinates clipped
    to [-1, size] then keep all four neighbours inside, with no masks. y and x are
    processed stacked, in few full-size ops: on the CPU the number of elementwise passes
    sets the cost."""
    n, h, w, c = ops.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
    upper = ops.reshape(ops.convert_to_tensor([float(h), float(w)], "float32"), (2, 1, 1, 1))
    src = ops.minimum(ops.maximum(src, -1.0), upper)
    corner = ops.floor(src)
    weight = src - corner
    index = ops.cast(corner, "int32") + 1
    pw = w + 3
    if fill_mode == "nearest":
        padded = ops.pad(x, [[0, 0], [1, 2], [1, 2], [0, 0]], mode="symmetric")
    else:
        padded = ops.pad(x, [[0, 0], [1, 2], [1, 2], [0, 0]], mode="constant",
                         constant_values=fill_value)
    base = ops.reshape(ops.arange(n, dtype="int32") * ((h + 3) * pw), (-1, 1, 1))
    i00 = base + index[0] * pw + index[1]
    wy, wx = weight[0], weight[1]
    if c == 1:  # gathering scalars from a vector is several times faster than rows
        flat = ops.reshape(padded, (-1,))
    else:
        flat = ops.reshape(padded, (-1, c))
        wy, wx = ops.expand_dims(wy, -1), ops.expand_dims(wx, -1)
    v00, v01 = ops.take(flat, i00, axis=0), ops.take(flat, i00 + 1, axis=0)
    v10, v11 = ops.take(flat, i00 + pw, axis=0), ops.take(flat, i00 + pw + 1, axis=0)
    top = v00 + wx * (v01 - v00)
    bottom = v10 + wx * (v11 - v10)
    out = top + wy * (bottom - top)
    return ops.expand_dims(out, -1) if c == 1 else out


def _warp(ops, x, transform, fill_value: float = 0.0, gather: bool | None = None):
    """``ops.image.affine_transform`` (bilinear, constant fill) of the float32 batch ``x``
    by Keras' 8-parameter ``transform`` [n, 8] with no projective part. On PyTorch,
    whose Keras ``affine_transform`` loops over the images in Python (13-20x slower than
    TensorFlow's here: benchmarks/augment_backends.py), the same warp by one gather
    (``gather`` forces either way)."""
    if not (ops.backend_name == "torch" if gather is None else gather):
        return ops.image.affine_transform(x, transform, interpolation="bilinear",
                                          fill_mode="constant", fill_value=fill_value,
                                          data_format="channels_last")
    h, w = x.shape[1], x.shape[2]
    rows = ops.reshape(ops.arange(h, dtype="float32"), (1, h, 1))
    cols = ops.reshape(ops.arange(w, dtype="float32"), (1, 1, w))
    t = [ops.reshape(transform[:, i], (-1, 1, 1)) for i in range(6)]
    src = ops.stack([t[3] * cols + t[4] * rows + t[5], t[0] * cols + t[1] * rows + t[2]])
    return _bilinear_sample(ops, x, src, "constant", fill_value)


@keras.saving.register_keras_serializable(package="kdl")
class RandomCropWithPadding(_AugmentationLayer):
    """Pad by ``padding`` pixels (zeros) and crop back at a random offset, per image."""

    def __init__(self, padding: int, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"`padding` must be a non-negative integer. Received: padding={padding!r}")
        self.padding = padding

    def call(self, images, training=True):
        ops = self.ops
        if not training or self.padding == 0:
            return images
        x, single = _batched(ops, images)
        n, h, w, c = ops.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
        p = self.padding
        # One gather from the zero-padded batch at per-image integer offsets: several
        # times faster on the CPU than an affine warp.
        offsets = self.randint((n, 2), 0, 2 * p + 1)
        pw, ph = w + 2 * p, h + 2 * p
        flat = ops.reshape(ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]), (-1, c))
        start = ops.arange(n, dtype="int32") * (ph * pw) + offsets[:, 0] * pw + offsets[:, 1]
        grid = ops.reshape(ops.arange(h, dtype="int32") * pw, (1, h, 1)) + \
            ops.reshape(ops.arange(w, dtype="int32"), (1, 1, w))
        out = ops.take(flat, ops.reshape(start, (-1, 1, 1)) + grid, axis=0)
        return out[0] if single else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "seed": self.seed}


def affine_about_center(turns, scale, dx, dy, height: int, width: int, ops=keras_ops):
    """The 8-parameter transform (output pixel -> input pixel) that rotates by ``turns``
    of a full turn and zooms by ``scale`` (>1 zooms in) about the image centre, then
    shifts the content by (``dx``, ``dy``) pixels; each argument is per image, [n]."""
    cos, sin = ops.cos(2 * math.pi * turns) / scale, ops.sin(2 * math.pi * turns) / scale
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    zeros = ops.zeros_like(cos)
    return ops.stack([cos, -sin, cx - cos * cx + sin * cy - dx,
                      sin, cos, cy - sin * cx - cos * cy - dy, zeros, zeros], axis=-1)


@keras.saving.register_keras_serializable(package="kdl")
class RandomAffine(_AugmentationLayer):
    """Random rotation, translation and zoom in one warp, per image, constant fill.

    ``rotation``: fraction of a full turn, drawn in [-rotation, rotation] (Keras'
    ``RandomRotation`` factor); ``translation``: fraction of height and width, in
    [-translation, translation]; ``zoom``: scale drawn in [1 - zoom, 1 + zoom]. One
    bilinear ``ops.image.affine_transform`` call, because on JAX Keras' three layers, one
    warp each, were much slower than on TensorFlow (``benchmarks/augment_backends.py``)."""

    def __init__(self, rotation: float = 0.0, translation: float = 0.0, zoom: float = 0.0,
                 fill_value: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        for arg, value, top in (("rotation", rotation, 0.5), ("translation", translation, 1.0),
                                ("zoom", zoom, 1.0)):
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not 0 <= value < top:
                raise ValueError(f"`{arg}` must be in [0, {top}). Received: {arg}={value!r}")
        self.rotation, self.translation, self.zoom = float(rotation), float(translation), float(zoom)
        self.fill_value = float(fill_value)

    def call(self, images, training=True):
        ops = self.ops
        if not training or not (self.rotation or self.translation or self.zoom):
            return images
        x, single = _batched(ops, images)
        n, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
        u = self.uniform((n, 4), -1.0, 1.0)
        transform = affine_about_center(u[:, 0] * self.rotation, 1.0 + u[:, 1] * self.zoom,
                                        u[:, 2] * self.translation * w,
                                        u[:, 3] * self.translation * h, h, w, ops)
        out = _warp(ops, ops.cast(x, "float32"), transform, self.fill_value)
        out = ops.cast(out, x.dtype)
        return out[0] if single else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation": self.rotation,
                "translation": self.translation, "zoom": self.zoom,
                "fill_value": self.fill_value, "seed": self.seed}


def _pair(name: str, value) -> tuple[float, float]:
    """``value`` as (min, max) floats, or a ValueError naming ``name``."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a pair of numbers (min, max). "
                         f"Received: {name}={value!r}") from None
    return low, high


@keras.saving.register_keras_serializable(package="kdl")
class RandomResizedCrop(_AugmentationLayer):
    """Crop a random area fraction in ``scale`` with aspect ratio in ``ratio``, resize back."""

    def __init__(self, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), seed: int | None = None,
                 **kwargs):
        super().__init__(seed=seed, **kwargs)
        scale, ratio = _pair("scale", scale), _pair("ratio", ratio)
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"`scale` must satisfy 0 < min <= max <= 1. Received: scale={scale!r}")
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"`ratio` must satisfy 0 < min <= max. Received: ratio={ratio!r}")
        self.scale, self.ratio, self.seed = scale, ratio, seed

    def call(self, images, training=True):
        ops = self.ops
        if not training or (self.scale == (1.0, 1.0) and self.ratio == (1.0, 1.0)):
            return images
        x, single = _batched(ops, images)
        n = ops.shape(x)[0]
        h, w = x.shape[1], x.shape[2]
        area = self.uniform((n,), self.scale[0], self.scale[1])
        log_r = self.uniform((n,), math.log(self.ratio[0]), math.log(self.ratio[1]))
        r = ops.exp(log_r)
        fw = ops.minimum(ops.sqrt(area * r), 1.0)
        fh = ops.minimum(ops.sqrt(area / r), 1.0)
        u = self.uniform((n, 2))
        x0 = u[:, 0] * (1.0 - fw) * (w - 1)
        y0 = u[:, 1] * (1.0 - fh) * (h - 1)
        out = _affine_batch(ops, ops.cast(x, "float32"), fw, x0, fh, y0, "bilinear")
        out = ops.cast(out, x.dtype)
        return out[0] if single else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "ratio": self.ratio,
                "seed": self.seed}


def _gaussian_kernel(sigma: float):
    radius = max(1, int(math.ceil(3 * sigma)))
    weights = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(-radius, radius + 1)]
    total = sum(weights)
    return [w_ / total for w_ in weights]


@keras.saving.register_keras_serializable(package="kdl")
class RandomElasticDistortion(_AugmentationLayer):
    """Elastic distortion of Simard, Steinkraus and Platt 2003.

    Each pixel is displaced by ``alpha`` times a uniform(-1, 1) random field smoothed
    by a Gaussian of standard deviation ``sigma`` (pixels); bilinear resampling.
    Outside the image, ``fill_mode="nearest"`` (the default) repeats the edge pixels,
    which keeps objects that touch the frame (most of Fashion-MNIST) whole;
    ``"constant"`` reads zeros. The paper's MNIST values are alpha=34, sigma=4.
    """

    def __init__(self, alpha: float = 34.0, sigma: float = 4.0, fill_mode: str = "nearest",
                 seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if fill_mode not in ("nearest", "constant"):
            raise ValueError(
                f"`fill_mode` must be 'nearest' or 'constant'. Received: fill_mode={fill_mode!r}"
            )
        self.fill_mode = fill_mode
        if alpha < 0 or sigma <= 0:
            raise ValueError(
                f"`alpha` must be >= 0 and `sigma` > 0. Received: alpha={alpha!r}, sigma={sigma!r}"
            )
        self.alpha, self.sigma, self.seed = float(alpha), float(sigma), seed
        k = _gaussian_kernel(self.sigma)
        self._kernel_len = len(k)
        self._kernel = k

    def _smoothing_matrix(self, ops, size: int):
        """Gaussian smoothing along one axis as a [size, size] matrix (zero boundary).

        Smoothing a field F by the separable Gaussian is then G_h @ F @ G_w^T: two small
        batched matmuls, several times faster on the CPU than 1-channel convolutions.
        """
        radius = (self._kernel_len - 1) // 2
        rows = []
        for i in range(size):
            rows.append([self._kernel[j - i + radius] if abs(j - i) <= radius else 0.0
                         for j in range(size)])
        return ops.convert_to_tensor(rows, dtype="float32")

    def _smooth(self, ops, field):
        h, w = field.shape[1], field.shape[2]
        gh, gw = self._smoothing_matrix(ops, h), self._smoothing_matrix(ops, w)
        field = ops.matmul(field, ops.transpose(gw))
        return ops.matmul(gh, field)

    def call(self, images, training=True):
        ops = self.ops
        if not training or self.alpha == 0.0:
            return images
        x, single = _batched(ops, images)
        dtype = x.dtype
        x = ops.cast(x, "float32")
        n, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
        field = self.uniform((n * 2, h, w), -1.0, 1.0)
        field = self._smooth(ops, field) * self.alpha
        grid = ops.convert_to_tensor(
            [[[float(i)] * w for i in range(h)], [list(map(float, range(w)))] * h], "float32")
        src = ops.expand_dims(grid, 1) + ops.reshape(field, (2, -1, h, w))
        out = _bilinear_sample(ops, x, src, self.fill_mode)
        out = ops.cast(out, dtype)
        return out[0] if single else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "sigma": self.sigma,
                "fill_mode": self.fill_mode, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kdl")
class RandomErasingFast(_AugmentationLayer):
    """Random erasing (Zhong et al. 2020): with probability ``factor``, a rectangle of
    ``scale`` x the image area and aspect ratio in ``ratio`` is filled with one random
    grey level per image. Built from a broadcast row/column mask: a few elementwise
    passes, where Keras' ``RandomErasing`` fills per-pixel noise.
    """

    def __init__(self, factor: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3),
                 value_range=(0, 255), seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not 0.0 <= factor <= 1.0:
            raise ValueError(f"`factor` must be in [0, 1]. Received: factor={factor!r}")
        self.factor, self.scale, self.ratio = float(factor), tuple(scale), tuple(ratio)
        self.value_range, self.seed = tuple(value_range), seed

    def call(self, images, training=True):
        ops = self.ops
        if not training or self.factor == 0.0:
            return images
        x, single = _batched(ops, images)
        n, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
        u = self.uniform((n, 6))
        area = (self.scale[0] + u[:, 1] * (self.scale[1] - self.scale[0])) * (h * w)
        log_r = math.log(self.ratio[0]) + u[:, 2] * (math.log(self.ratio[1]) - math.log(self.ratio[0]))
        r = ops.exp(log_r)
        eh = ops.clip(ops.round(ops.sqrt(area / r)), 1.0, float(h))
        ew = ops.clip(ops.round(ops.sqrt(area * r)), 1.0, float(w))
        y0 = ops.floor(u[:, 3] * (h - eh + 1.0))
        x0 = ops.floor(u[:, 4] * (w - ew + 1.0))
        erase = ops.cast(u[:, 0] < self.factor, "float32")
        rows = ops.reshape(ops.arange(h, dtype="float32"), (1, h))
        cols = ops.reshape(ops.arange(w, dtype="float32"), (1, w))
        in_rows = ops.cast((rows >= y0[:, None]) & (rows < (y0 + eh)[:, None]), "float32")
        in_cols = ops.cast((cols >= x0[:, None]) & (cols < (x0 + ew)[:, None]), "float32")
        mask = ops.expand_dims(in_rows * erase[:, None], 2) * ops.expand_dims(in_cols, 1)
        mask = ops.expand_dims(mask, -1)
        lo, hi = self.value_range
        fill = ops.reshape(lo + u[:, 5] * (hi - lo), (-1, 1, 1, 1))
        out = x + mask * (ops.cast(fill, x.dtype) - x)
        return out[0] if single else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "ratio": self.ratio, "value_range": self.value_range, "seed": self.seed}


# --- the spec -> layers registry --------------------------------------------------------

def _kw(value, key):
    return value if isinstance(value, dict) else {key: value}


def _color_jitter(value, channels, seed):
    kw = dict(value) if isinstance(value, dict) else {"brightness": value, "contrast": value}
    b, c = kw.get("brightness", 0.0), kw.get("contrast", 0.0)
    s, h = kw.get("saturation", 0.0), kw.get("hue", 0.0)
    if channels == 3:
        return keras.layers.RandomColorJitter(
            value_range=(0, 255), brightness_factor=b or None, contrast_factor=c or None,
            saturation_factor=s or None, hue_factor=h or None, seed=seed, name="color_jitter")
    if s or h:
        raise ValueError(
            f"Saturation and hue jitter need RGB images. Received: channels={channels}, "
            f"color_jitter={value!r}"
        )
    layers = []
    if b:
        layers.append(keras.layers.RandomBrightness(b, value_range=(0, 255), seed=seed,
                                                    name="brightness"))
    if c:
        layers.append(keras.layers.RandomContrast(c, value_range=(0, 255), seed=seed,
                                                  name="contrast"))
    if not layers:
        return keras.layers.Identity(name="color_jitter")
    return keras.layers.Pipeline(layers, name="color_jitter")


FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _flip(value, channels, seed):
    mode = "horizontal" if value is True else value
    if mode not in FLIP_MODES:  # Keras' RandomFlip takes any string and flips nothing
        raise ValueError(f"`flip` must be True or one of {', '.join(FLIP_MODES)}. "
                         f"Received: flip={value!r}")
    return keras.layers.RandomFlip(mode, seed=seed, name="flip")


AUGMENTATIONS: dict[str, Callable] = {
    "flip": _flip,
    "vertical_flip": lambda v, c, s: keras.layers.RandomFlip("vertical", seed=s,
                                                              name="vertical_flip"),
    "crop": lambda v, c, s: RandomCropWithPadding(seed=s, name="crop", **_kw(v, "padding")),
    "resized_crop": lambda v, c, s: RandomResizedCrop(seed=s, name="resized_crop",
                                                      **_kw(v, "scale")),
    "color_jitter": _color_jitter,
    "rotation": lambda v, c, s: keras.layers.RandomRotation(
        seed=s, name="rotation", **{"fill_mode": "constant", **_kw(v, "factor")}),
    "translation": lambda v, c, s: keras.layers.RandomTranslation(
        seed=s, name="translation", **{"fill_mode": "constant",
                                       **(v if isinstance(v, dict) else
                                          {"height_factor": v, "width_factor": v})}),
    "zoom": lambda v, c, s: keras.layers.RandomZoom(
        seed=s, name="zoom", **{"fill_mode": "constant", **_kw(v, "height_factor")}),
    "affine": lambda v, c, s: RandomAffine(seed=s, name="affine", **_kw(v, "rotation")),
    "elastic": lambda v, c, s: RandomElasticDistortion(seed=s, name="elastic", **_kw(v, "alpha")),
    "erasing": lambda v, c, s: RandomErasingFast(seed=s, name="erasing", **_kw(v, "factor")),
}


def build_augmentation(spec: dict | None, image_shape, seed: int = 0) -> keras.layers.Pipeline | None:
    """One ``keras.layers.Pipeline`` applying ``spec``'s transforms in order (None if empty).

    A Pipeline, not a Sequential: inside tf.data it leaves its inputs TensorFlow tensors,
    so the pipeline runs on every Keras backend."""
    if not spec:
        return None
    from kdl._names import close_matches

    layers = []
    for i, (key, value) in enumerate(spec.items()):
        if key not in AUGMENTATIONS:
            matches = close_matches(str(key), AUGMENTATIONS)
            hint = f" Did you mean: {', '.join(matches)}?" if matches else ""
            raise ConfigError(f"Unknown augmentation '{key}'.{hint} Received: "
                              f"augmentation.{key}={value!r}")
        try:
            layers.append(AUGMENTATIONS[key](value, image_shape[-1], seed + i))
        except (TypeError, ValueError) as e:  # the layer's own validation, named by field
            message = " ".join(str(e).split()).split(" Received:")[0]
            raise ConfigError(f"augmentation.{key}: {message} Received: "
                              f"augmentation.{key}={value!r}") from None
    return keras.layers.Pipeline(layers, name="augmentation")
