"""kdl.data on real Fashion-MNIST images: sources, IDX checks, pipelines (augmentation:
tests/test_augment.py)."""

import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

from kdl import data
from kdl.data.augment import build_augmentation
from tests.conftest import needs_fashion_mnist


@needs_fashion_mnist
def test_debian_fashion_mnist_loads_offline(fashion_mnist):
    ds = fashion_mnist
    assert ds.split_sizes() == {"train": 54_000, "validation": 6_000, "test": 10_000}
    assert ds.image_shape == (28, 28, 1) and ds.num_classes == 10
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    x, y = next(iter(ds.train))
    assert x.dtype == tf.uint8 and tuple(x.shape) == (28, 28, 1) and y.dtype == tf.int64
    (xt, yt), (xv, yv), (xs, ys) = (ds.arrays[k] for k in ("train", "validation", "test"))
    assert len(xt) + len(xv) == 60_000
    np.testing.assert_array_equal(np.bincount(np.concatenate([yt, yv])), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(ys), [1000] * 10)
    assert set(np.unique(ys)) == set(range(10))


@needs_fashion_mnist
def test_validation_split_is_seeded_and_from_train(fashion_mnist):
    again = data.load_image_dataset("fashion_mnist", validation_fraction=0.1, seed=0)
    np.testing.assert_array_equal(again.arrays["validation"][1],
                                  fashion_mnist.arrays["validation"][1])
    other = data.load_image_dataset("fashion_mnist", validation_fraction=0.1, seed=1)
    assert not np.array_equal(other.arrays["validation"][0], again.arrays["validation"][0])
    np.testing.assert_array_equal(other.arrays["test"][0], again.arrays["test"][0])


def _write_idx(path, array, type_code=0x08, compress=False):
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    with open(path, "wb") as f:
        f.write(gzip.compress(raw) if compress else raw)
    return raw


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, compress):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / ("a.gz" if compress else "a")
    _write_idx(p, a, compress=compress)
    np.testing.assert_array_equal(data.read_idx(p), a)


def test_corrupt_and_truncated_idx_rejected(tmp_path):
    a = np.ones((5, 4, 4), np.uint8)
    raw = _write_idx(tmp_path / "ok", a)
    (tmp_path / "short").write_bytes(raw[:-7])
    (tmp_path / "magic").write_bytes(b"\x12\x34" + raw[2:])
    (tmp_path / "tiny").write_bytes(raw[:2])
    (tmp_path / "long").write_bytes(raw + b"\x00")
    (tmp_path / "badgz.gz").write_bytes(gzip.compress(raw)[:-20])
    for name, fragment in [("short", "truncated"), ("magic", "magic number"),
                           ("tiny", "truncated"), ("long", "longer than"),
                           ("badgz.gz", "Cannot read")]:
        with pytest.raises(data.IDXError, match=fragment) as info:
            data.read_idx(tmp_path / name)
        assert name in str(info.value)


def test_idx_directory_in_data_dir(tmp_path):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (50, 6, 6)), compress=True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(50) % 3, compress=True)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 255, (9, 6, 6)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(9) % 3)
    ds = data.load_image_dataset("toy", data_dir=tmp_path, validation_fraction=0.2)
    assert ds.split_sizes() == {"train": 40, "validation": 10, "test": 9}
    assert ds.image_shape == (6, 6, 1) and ds.num_classes == 3


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KDL_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DataNotFoundError, match="data_dir"):
        data.load_image_dataset("fashion_mnist", data_dir=tmp_path / "nothing")


def test_tfds_path_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=40):
        ds = data.load_image_dataset("cifar10", validation_fraction=0.25, seed=3)
    assert ds.source == "tfds:cifar10"
    assert ds.image_shape == (32, 32, 3) and ds.num_classes == 10
    sizes = ds.split_sizes()
    assert sizes["train"] == 30 and sizes["validation"] == 10 and sizes["test"] == 40
    x, y = next(iter(ds.train))
    assert x.dtype == tf.uint8 and tuple(x.shape) == (32, 32, 3)


def test_arrays_and_image_folders(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            os.makedirs(tmp_path / split / cls)
            for i in range(5):
                Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(
                    tmp_path / split / cls / f"{i}.png")
    ds = data.from_directory(tmp_path, validation_fraction=0.2)
    assert ds.class_names == ("cat", "dog") and ds.image_shape == (8, 8, 3)
    assert ds.split_sizes() == {"train": 8, "validation": 2, "test": 10}
    arr = data.from_arrays(rng.integers(0, 255, (20, 5, 5)), np.arange(20) % 2,
                           rng.integers(0, 255, (4, 5, 5)), np.arange(4) % 2)
    assert arr.image_shape == (5, 5, 1)


def test_text_corpus_from_the_standard_library():
    corpus = data.load_text_corpus(max_chars=50_000)
    assert corpus.name == "pystdlib" and len(corpus.text) == 50_000
    assert "def " in corpus.text and set(corpus.text) <= set(corpus.vocabulary)
    x, y = next(iter(corpus.sequences(40)))
    np.testing.assert_array_equal(x.numpy()[1:], y.numpy()[:-1])
    assert corpus.decode(corpus.encode("import os")) == "import os"


@needs_fashion_mnist
def test_pipeline_and_normalization(fashion_mnist):
    pipe = data.make_pipeline(fashion_mnist.validation, 256, training=True,
                              augmentation=build_augmentation({"flip": "horizontal"}, (28, 28, 1)),
                              deterministic=True, seed=1)
    x, y = next(iter(pipe))
    assert x.shape == (256, 28, 28, 1) and x.dtype == tf.float32 and y.shape == (256,)
    first = [b.numpy() for _, b in pipe.take(2)]
    second = [b.numpy() for _, b in pipe.take(2)]
    assert not np.array_equal(first[0], second[0])  # reshuffled each epoch
    norm = data.normalization_layer(fashion_mnist.validation, per="channel")
    z = np.asarray(norm(x))
    assert abs(z.mean()) < 0.2 and abs(z.std() - 1) < 0.2
    pixel = data.normalization_layer(fashion_mnist.validation, per="pixel")
    assert tuple(pixel.mean.shape[1:]) == (28, 28, 1)
    with pytest.raises(ValueError, match="batch_size=0"):
        data.make_pipeline(fashion_mnist.validation, 0, training=False)


@needs_fashion_mnist
def test_pipelines_run_without_tf_data_autotuning_unless_asked():
    # With it on, deleting a used iterator (fit: every epoch's end) waited up to 6 s with
    # the cores idle (benchmarks/epoch_boundary.py), so every pipeline kdl builds is off.
    from kdl.recipes import get_recipe
    from kdl.engine.loop import prepare_data

    images, labels = np.zeros((64, 4, 4, 1), np.uint8), np.arange(64)
    for training in (True, False):
        pipe = data.make_pipeline((images, labels), 16, training=training)
        assert pipe.options().autotune.enabled is False
        assert len(list(pipe)) == 4
    tuned = data.make_pipeline((images, labels), 16, training=True, autotune=True)
    assert tuned.options().autotune.enabled is True
    for name in ("lenet5_fashion_mnist", "autoencoder_fashion_mnist", "char_rnn_pystdlib"):
        bundle = prepare_data(get_recipe(name).smoke())
        for split in (bundle.train, bundle.validation, bundle.test):
            assert split.options().autotune.enabled is False, name


def test_array_pipeline_gives_every_pair_once_per_epoch_reshuffled():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (1000, 4, 4, 1), dtype=np.uint8)
    labels = np.arange(1000, dtype=np.int64)  # label i belongs to image i
    pipe = data.make_pipeline((images, labels), 128, training=True, seed=3, deterministic=True)
    epochs = []
    for _ in range(2):
        xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in pipe), strict=True)
        x, y = np.concatenate(xs), np.concatenate(ys)
        assert x.dtype == np.float32 and sorted(y) == list(range(1000))
        np.testing.assert_array_equal(x, images[y].astype(np.float32))  # pairs kept together
        epochs.append(y)
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[0], labels)
    ordered = np.concatenate([y.numpy() for _, y in data.make_pipeline((images, labels), 300,
                                                                        training=False)])
    np.testing.assert_array_equal(ordered, labels)  # evaluation keeps the order
    with pytest.raises(ValueError, match="3 images, 2 labels"):
        data.make_pipeline((images[:3], labels[:2]), 8, training=False)
