"""Data from anywhere (kdl.data.sources): folders of a user's images, CIFAR's tarballs,
IDX and npz files, each through `kdl train --data SPEC`, and every bad input refused in
one line before anything is written."""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from kdl import data
from kdl.errors import DataError


def write_digit_folder(root, per_class: int = 12, classes: int = 10, split: bool = False):
    """scikit-learn's bundled digits as a folder of PNG and JPEG files of several sizes,
    greyscale and RGB (the real 8x8 scans, enlarged)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(0)
    count = {c: 0 for c in range(classes)}
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        if label >= classes or count[label] >= per_class:
            continue
        count[label] += 1
        tree = os.path.join(root, ("test" if count[label] % 4 == 0 else "train") if split else "",
                            f"digit_{label}")
        os.makedirs(tree, exist_ok=True)
        pixels = Image.fromarray((image * 16).clip(0, 255).astype(np.uint8))
        side = int(rng.choice([8, 16, 28, 40]))
        pixels = pixels.resize((side, side))
        if i % 3 == 0:
            pixels.convert("RGB").save(os.path.join(tree, f"{i}.jpg"), quality=95)
        else:
            pixels.save(os.path.join(tree, f"{i}.png"))
    return root


def test_a_folder_of_mixed_images_is_indexed_checked_and_decoded_lazily(tmp_path):
    root = write_digit_folder(tmp_path / "digits")
    with pytest.warns(UserWarning) as caught:
        ds = data.load_image_dataset(f"folder:{root}", validation_fraction=0.2, seed=0,
                                     image_shape=(28, 28, 1))
    messages = " ".join(str(w.message) for w in caught)
    assert "differ in size" in messages and "mix colour modes" in messages
    assert ds.class_names == tuple(f"digit_{i}" for i in range(10))
    sizes = ds.split_sizes()
    # A tenth of each class held out as test, a fifth of the rest as validation, per class.
    assert sizes == {"train": 90, "validation": 20, "test": 10}  # of 12 per class: 1, 2, 9
    assert ds.arrays is None and ds.files is not None  # nothing decoded into memory
    x, y = next(iter(ds.train))
    assert tuple(x.shape) == (28, 28, 1) and x.dtype.name == "float32" and 0 <= int(y) < 10
    # Each split's files are disjoint, and the test split does not move with the seed.
    train, test = set(ds.files["train"][0]), set(ds.files["test"][0])
    assert not train & test and not train & set(ds.files["validation"][0])
    other = data.load_image_dataset(f"folder:{root}", validation_fraction=0.2, seed=1,
                                    image_shape=(28, 28, 1))
    assert set(other.files["test"][0]) == test
    assert other.fingerprint["digest"] == ds.fingerprint["digest"]  # the same data
    assert other.fingerprint["split_digests"]["train"] != ds.fingerprint["split_digests"]["train"]


def test_a_folder_decodes_as_serving_decodes(tmp_path):
    """Training pixels and serving_bytes pixels come from one decoder."""
    import tensorflow as tf

    from kdl.data.images import decode_images

    root = write_digit_folder(tmp_path / "d", per_class=3, classes=2, split=False)
    ds = data.load_image_dataset(f"folder:{root}", validation_fraction=0.0,
                                 image_shape=(20, 20, 3))
    path = ds.files["train"][0][0]
    image, _ = ds.decode(tf.constant(path), tf.constant(0, tf.int64))
    with open(path, "rb") as f:
        served = decode_images(tf.constant([f.read()]), (20, 20, 3))[0]
    np.testing.assert_array_equal(image.numpy(), served.numpy())


def _cifar_tarball(path, classes: int = 10, per_batch: int = 6, hundred: bool = False):
    """A tarball in CIFAR's published python format (pickled dicts of uint8 rows)."""
    rng = np.random.default_rng(0)
    folder = "cifar-100-python" if hundred else "cifar-10-batches-py"
    key = "fine_labels" if hundred else "labels"

    def batch(n):
        return {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
                key.encode(): [int(i) % classes for i in range(n)]}

    members = ({"train": batch(per_batch * 5), "test": batch(per_batch),
                "meta": {b"fine_label_names": [f"c{i}".encode() for i in range(classes)]}}
               if hundred else
               {**{f"data_batch_{i}": batch(per_batch) for i in range(1, 6)},
                "test_batch": batch(per_batch),
                "batches.meta": {b"label_names": [f"c{i}".encode() for i in range(classes)]}})
    with tarfile.open(path, "w:gz") as tar:
        for name, value in members.items():
            raw = pickle.dumps(value, protocol=2)
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return members


@pytest.mark.parametrize("hundred", [False, True], ids=["cifar10", "cifar100"])
def test_cifar_tarballs_are_read_without_tfds(tmp_path, hundred):
    path = tmp_path / "cifar.tar.gz"
    members = _cifar_tarball(path, classes=20 if hundred else 10, hundred=hundred)
    spec = f"{'cifar100' if hundred else 'cifar10'}:{path}"
    ds = data.load_image_dataset(spec, validation_fraction=0.2)
    assert ds.image_shape == (32, 32, 3) and ds.num_classes == (20 if hundred else 10)
    assert ds.split_sizes() == {"train": 24, "validation": 6, "test": 6}
    # Channel planes, row by row: pixel (0, 1) of the first test image is bytes 1, 1025, 2049.
    row = members["test" if hundred else "test_batch"][b"data"][0]
    np.testing.assert_array_equal(ds.arrays["test"][0][0, 0, 1], row[[1, 1025, 2049]])
    assert ds.fingerprint["archive_sha256"] and ds.class_names[0] == "c0"


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned > /dev/null",))

    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]:
            raw = pickle.dumps(Evil())
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    with pytest.raises(DataError, match="refused posix.system|refused os.system|cannot unpickle"):
        data.load_image_dataset(f"cifar10:{path}")


def test_npz_and_idx_sources(tmp_path, fashion_mnist):
    x, y = fashion_mnist.arrays["test"]
    np.savez(tmp_path / "small.npz", x_train=x[:100], y_train=y[:100], x_test=x[100:140],
             y_test=y[100:140], class_names=np.array(fashion_mnist.class_names))
    ds = data.load_image_dataset(f"npz:{tmp_path / 'small.npz'}", validation_fraction=0.1)
    assert ds.split_sizes() == {"train": 90, "validation": 10, "test": 40}
    assert ds.class_names == fashion_mnist.class_names and ds.fingerprint["file_sha256"]
    idx = data.load_image_dataset("idx:/usr/share/datasets/fashion-mnist", validation_fraction=0.1)
    assert idx.class_names == fashion_mnist.class_names  # Debian's folder is Fashion-MNIST
    assert idx.fingerprint["digest"] == fashion_mnist.fingerprint["digest"]


def _bad_inputs(root):
    """(spec, what the one line must say) for every bad input of the issue."""
    from PIL import Image

    cases = []
    os.makedirs(root / "empty")
    cases.append((f"folder:{root / 'empty'}", "No class folders"))
    for name in ("a", "b"):
        os.makedirs(root / "undecodable" / name)
        for i in range(3):
            Image.new("L", (8, 8), i * 40).save(root / "undecodable" / name / f"{i}.png")
    good = (root / "undecodable" / "b" / "0.png").read_bytes()
    (root / "undecodable" / "b" / "cut.png").write_bytes(good[:40])
    (root / "undecodable" / "b" / "text.jpg").write_text("not a picture")
    cases.append((f"folder:{root / 'undecodable'}", "2 file(s) could not be decoded, first: "))
    for name, n in (("a", 3), ("b", 1)):
        os.makedirs(root / "few" / name)
        for i in range(n):
            Image.new("L", (8, 8), i).save(root / "few" / name / f"{i}.png")
    cases.append((f"folder:{root / 'few'}", "fewer than 2 images, first: "))
    for split, names in (("train", ("a", "b")), ("test", ("a", "c"))):
        for name in names:
            os.makedirs(root / "split" / split / name)
            for i in range(2):
                Image.new("L", (8, 8), i).save(root / "split" / split / name / f"{i}.png")
    cases.append((f"folder:{root / 'split'}", "test class(es) that train lacks"))
    (root / "notcifar.tar.gz").write_bytes(b"\x1f\x8b not really")
    cases.append((f"cifar10:{root / 'notcifar.tar.gz'}", "is not the CIFAR-10 python archive"))
    with tarfile.open(root / "other.tar", "w") as tar:
        info = tarfile.TarInfo("photos/cat.png")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    cases.append((f"cifar100:{root / 'other.tar'}", "no cifar-100-python/train in it"))
    (root / "x.npz").write_bytes(b"PK\x03\x04broken")
    cases.append((f"npz:{root / 'x.npz'}", "not a readable npz"))
    cases.append((f"idx:{root / 'empty'}", "has no MNIST-layout IDX files"))
    cases.append((f"foldr:{root}", "Did you mean: folder?"))
    cases.append((f"folder:{root / 'missing'}", "does not exist"))
    return cases


def test_every_bad_data_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    from kdl.cli import main

    for spec, fragment in _bad_inputs(tmp_path / "data"):
        workdir, exports = tmp_path / "w", tmp_path / "exports"
        code = main(["train", "lenet5_fashion_mnist", "--smoke", "--data", spec,
                     "--workdir", str(workdir), "--export-dir", str(exports)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, (spec, err)
        assert len(err) == 1 and err[0].startswith("kdl: error:") and fragment in err[0], (spec, err)
        assert not workdir.exists() and not exports.exists(), spec


def test_train_on_a_folder_from_the_cli_and_the_fingerprint_in_the_record(tmp_path, capsys):
    """`kdl train RECIPE --data folder:DIR` trains on mixed PNG/JPEG files and exports; the
    record says which files were train, validation and test."""
    import json

    from kdl.cli import main

    root = write_digit_folder(tmp_path / "digits", per_class=10, split=True)
    code = main(["train", "lenet5_fashion_mnist", "--smoke", "--data", f"folder:{root}",
                 "--workdir", str(tmp_path / "w"), "--export-dir", str(tmp_path / "exports"),
                 "--no-report", "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.err.count("kdl: warning:") == 2  # sizes and colour modes, once each
    result = json.loads((tmp_path / "w" / "result.json").read_text())
    fingerprint = result["data_fingerprint"]
    assert fingerprint["source"] == f"folder:{root}" and fingerprint["layout"] == "train/test"
    assert fingerprint["split_sizes"] == {"train": 70, "validation": 10, "test": 20}
    assert result["config"]["data"] == f"folder:{root}"
    meta = json.loads((tmp_path / "exports" / "lenet5_fashion_mnist" / "1" / "kdl.json").read_text())
    assert meta["data_fingerprint"]["digest"] == fingerprint["digest"]
    assert meta["class_names"] == [f"digit_{i}" for i in range(10)]
