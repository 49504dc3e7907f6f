"""kdl.data.feed.ArrayFeed, the feed where TensorFlow is absent, on whichever backend the
pass runs (make test runs this file on TensorFlow, JAX and PyTorch)."""

import keras
import numpy as np
import pytest

from kdl.data.augment import build_augmentation
from kdl.data.feed import ArrayFeed
from kdl.data.normalize import normalization_layer


def _arrays(n=50, shape=(6, 6, 1)):
    images = np.arange(n * int(np.prod(shape)), dtype="int64").reshape(n, *shape) % 256
    return images.astype("uint8"), np.arange(n) % 10


def _epoch(feed):
    return [keras.ops.convert_to_numpy(feed[i][1]) for i in range(len(feed))]


def test_training_batches_are_one_permutation_per_seed_and_epoch():
    images, labels = _arrays()
    feed = ArrayFeed(images, np.arange(50), 16, training=True, seed=3)
    assert len(feed) == 4  # the last batch short, not dropped
    first = _epoch(feed)
    assert [len(b) for b in first] == [16, 16, 16, 2]
    assert sorted(np.concatenate(first).tolist()) == list(range(50))  # each example once
    assert np.concatenate(first).tolist() != list(range(50))  # shuffled
    feed.on_epoch_end()
    second = _epoch(feed)
    assert np.concatenate(second).tolist() != np.concatenate(first).tolist()
    # A feed that starts at epoch 1 (a resumed run) draws epoch 1's batches.
    resumed = ArrayFeed(images, np.arange(50), 16, training=True, seed=3)
    resumed.epoch_callback().on_epoch_begin(1)
    assert [b.tolist() for b in _epoch(resumed)] == [b.tolist() for b in second]
    other_seed = ArrayFeed(images, np.arange(50), 16, training=True, seed=4)
    assert np.concatenate(_epoch(other_seed)).tolist() != np.concatenate(first).tolist()


def test_evaluation_batches_keep_the_order_and_pixels_arrive_as_float32():
    images, labels = _arrays()
    feed = ArrayFeed(images, labels, 16, training=False,
                     augmentation=build_augmentation({"flip": "horizontal"}, (6, 6, 1)))
    x, y = feed[0]
    assert keras.ops.convert_to_numpy(x).dtype == np.float32
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(x), images[:16])  # no augmentation
    assert np.concatenate(_epoch(feed)).tolist() == labels.tolist()
    with pytest.raises(IndexError):
        feed[len(feed)]


def test_training_batches_are_augmented_on_the_backend_and_resized():
    images, labels = _arrays()
    flips = build_augmentation({"flip": "horizontal"}, (6, 6, 1), seed=0)
    feed = ArrayFeed(images, labels, 50, training=True, augmentation=flips, image_size=(8, 8))
    x, _ = feed[0]
    x = keras.ops.convert_to_numpy(x)
    assert x.shape == (50, 8, 8, 1)
    plain = ArrayFeed(images, labels, 50, training=True, image_size=(8, 8))
    assert not np.allclose(x, keras.ops.convert_to_numpy(plain[0][0]))  # some were flipped


def test_targets_apply_to_each_batch_and_bad_sizes_are_refused():
    images, labels = _arrays()
    feed = ArrayFeed(images, labels, 8, training=False, targets=lambda x, y: (x, x / 255.0))
    x, target = feed[0]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(target), images[:8] / 255.0, rtol=1e-6)
    with pytest.raises(ValueError, match="Received: 50 images, 49 labels"):
        ArrayFeed(images, labels[:-1], 8, training=True)
    with pytest.raises(ValueError, match="batch_size=0"):
        ArrayFeed(images, labels, 0, training=True)


def test_normalization_adapts_on_arrays_as_on_their_moments():
    images, _ = _arrays(shape=(4, 4, 3))
    layer = normalization_layer(images, per="channel")
    x = images.astype("float64").reshape(-1, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.mean).reshape(-1), x.mean(0),
                               rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.variance).reshape(-1), x.var(0),
                               rtol=1e-4)
