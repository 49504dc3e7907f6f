"""kdl's augmentation on real images, inside tf.data and inside a model. `make test` runs
this file on TensorFlow, JAX and PyTorch: in tf.data the layers run on TensorFlow whatever
the backend (Keras' DataLayer); in a model, on the backend's own ops."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kdl import data
from kdl.data.augment import AUGMENTATIONS, build_augmentation

_np = keras.ops.convert_to_numpy  # a backend tensor as numpy, on every backend

ACTIVE = {
    "flip": "horizontal", "vertical_flip": True, "crop": 3, "resized_crop": {"scale": (0.5, 1.0)},
    "color_jitter": {"brightness": 0.3, "contrast": 0.3}, "rotation": 0.1,
    "translation": 0.1, "zoom": 0.2, "elastic": {"alpha": 10.0, "sigma": 4.0},
    "erasing": 1.0, "affine": {"rotation": 0.05, "translation": 0.1, "zoom": 0.1},
}
ZERO = {
    "crop": 0, "resized_crop": {"scale": (1.0, 1.0), "ratio": (1.0, 1.0)},
    "rotation": 0.0, "translation": 0.0, "zoom": 0.0, "affine": 0.0,
    "elastic": {"alpha": 0.0, "sigma": 4.0}, "erasing": 0.0,
    "color_jitter": {"brightness": 0.0, "contrast": 0.0},
}


@pytest.fixture(scope="module")
def real_batch():
    from tests.conftest import fashion_mnist_available

    if fashion_mnist_available():
        ds = data.load_image_dataset("fashion_mnist")
        x, y = ds.arrays["test"][0][:64], ds.arrays["test"][1][:64]
    else:  # still exercise the transforms
        x = np.random.default_rng(0).integers(0, 255, (64, 28, 28, 1), dtype=np.uint8)
        y = np.arange(64) % 10
    return x.astype("float32"), y


def test_every_augmentation_is_covered():
    assert set(ACTIVE) == set(AUGMENTATIONS)


@pytest.mark.parametrize("name", sorted(ACTIVE))
def test_augmentation_keeps_shape_range_and_is_seeded(name, real_batch):
    x, y = real_batch
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)

    def run(seed):
        aug = build_augmentation({name: ACTIVE[name]}, x.shape[1:], seed=seed)
        out = ds.map(lambda a, b: (aug(a, training=True), b))
        xs, ys = zip(*[(a.numpy(), b.numpy()) for a, b in out], strict=True)
        return np.concatenate(xs), np.concatenate(ys)

    a, labels = run(7)
    assert a.shape == x.shape and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 255.0 + 1e-3
    np.testing.assert_array_equal(labels, y)
    b, _ = run(7)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert not np.allclose(a, x), f"{name} changed nothing"
    # Inside a model, augmentation is off at inference.
    aug = build_augmentation({name: ACTIVE[name]}, x.shape[1:], seed=0)
    np.testing.assert_array_equal(_np(aug(x[:4], training=False)), x[:4])


@pytest.mark.parametrize("name", sorted(ZERO))
def test_strength_zero_is_identity(name, real_batch):
    x, _ = real_batch
    aug = build_augmentation({name: ZERO[name]}, x.shape[1:], seed=0)
    np.testing.assert_allclose(_np(aug(x, training=True)), x, atol=1e-3)


def test_elastic_distortion_moves_pixels_but_keeps_intensity(real_batch):
    x, _ = real_batch
    # alpha=34 (Simard's MNIST value) moves thin Fashion-MNIST parts (soles, straps) by up
    # to 3 px and can lose a quarter of their intensity; alpha=10 is the recipes' strength.
    layer = data.augment.RandomElasticDistortion(alpha=10.0, sigma=4.0, seed=0)
    out = _np(layer(x, training=True))
    assert np.mean(np.abs(out - x)) > 5.0
    ratio = out.sum(axis=(1, 2, 3)) / x.sum(axis=(1, 2, 3))
    assert np.all(np.abs(ratio - 1.0) < 0.10), ratio


def test_crop_with_padding_shifts_whole_images(real_batch):
    x, _ = real_batch
    out = _np(data.augment.RandomCropWithPadding(2, seed=0)(x, training=True))
    for img, src in zip(out[:8], x[:8], strict=True):
        p = np.pad(src, ((2, 2), (2, 2), (0, 0)))
        assert any(np.array_equal(img, p[i:i + 28, j:j + 28]) for i in range(5) for j in range(5))


def test_affine_transform_by_hand():
    """A quarter turn is np.rot90; a shift moves content by whole pixels; zoom 2 about the
    centre samples the central half; all through kdl's transform and Keras' warp."""
    from keras import ops

    from kdl.data.augment import affine_about_center

    img = np.arange(25, dtype="float32").reshape(1, 5, 5, 1)

    def warp(turns, scale, dx, dy):
        t = affine_about_center(ops.convert_to_tensor([turns]), ops.convert_to_tensor([scale]),
                                ops.convert_to_tensor([dx]), ops.convert_to_tensor([dy]), 5, 5)
        return np.asarray(ops.convert_to_numpy(ops.image.affine_transform(
            img, t, interpolation="bilinear", fill_mode="constant", fill_value=-1.0)))[0, ..., 0]

    quarter = warp(0.25, 1.0, 0.0, 0.0)
    np.testing.assert_allclose(quarter, np.rot90(img[0, ..., 0], 1), atol=1e-4)
    shifted = warp(0.0, 1.0, 1.0, 2.0)  # content moves right 1, down 2
    np.testing.assert_allclose(shifted[2:, 1:], img[0, :3, :4, 0], atol=1e-4)
    assert np.all(shifted[:2] == -1.0) and np.all(shifted[:, 0] == -1.0)
    zoomed = warp(0.0, 2.0, 0.0, 0.0)  # output (0, 0) samples input (1, 1)
    np.testing.assert_allclose(zoomed[0, 0], img[0, 1, 1, 0], atol=1e-4)
    np.testing.assert_allclose(zoomed[2, 2], img[0, 2, 2, 0], atol=1e-4)
    with pytest.raises(ValueError, match="rotation=0.7"):
        data.augment.RandomAffine(rotation=0.7)


def test_unknown_augmentation_named():
    with pytest.raises(ValueError, match="Unknown augmentation 'elastik'"):
        build_augmentation({"elastik": 1.0}, (28, 28, 1))


@pytest.mark.parametrize("channels", [1, 3])
def test_gather_warp_equals_keras_affine_transform(channels):
    """kdl's warp by one gather (PyTorch's path) against ops.image.affine_transform on this
    backend: rotation, zoom and shifts that move content across the border (fill 0.5)."""
    import keras

    from kdl.data.augment import _Ops, _warp, affine_about_center

    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.random((6, 28, 28, channels)).astype("float32"))
    u = rng.uniform(-1, 1, (6, 4)).astype("float32")

    def transform():  # a fresh tensor each time: Keras' torch affine_transform edits its own
        t = keras.ops.convert_to_tensor
        return affine_about_center(t(u[:, 0] * 0.1), t(1 + u[:, 1] * 0.3), t(u[:, 2] * 6),
                                   t(u[:, 3] * 6), 28, 28)

    ops = _Ops(data.augment.RandomAffine().backend)
    expected = keras.ops.image.affine_transform(x, transform(), interpolation="bilinear",
                                                fill_mode="constant", fill_value=0.5)
    got = _warp(ops, x, transform(), 0.5, gather=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got),
                               keras.ops.convert_to_numpy(expected), atol=1e-5)
