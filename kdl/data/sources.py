"""Where images and labels come from: IDX files offline, TFDS online, arrays, folders.

:func:`load_image_dataset` looks, in order, at ``data_dir``; MNIST-layout IDX files in
``$KDL_DATA_DIR`` or ``/usr/share/datasets/fashion-mnist`` (Debian's
``dataset-fashion-mnist``, for ``fashion_mnist`` only); then TFDS, which downloads any
of its image-classification datasets (mnist, fashion_mnist, cifar10, cifar100, ...)
where there is internet (set ``KDL_OFFLINE=1`` to fail at once instead of waiting for
TFDS's download retries). The validation split is always carved from train, seeded and
deterministic, never from test.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from kdl.data.idx import find_idx_files, load_idx_directory
from kdl.errors import DataError, KdlError

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_CLASSES = tuple(str(i) for i in range(10))
# Datasets whose train split is larger than this stay on disk (TFDS percent slicing).
MAX_IN_MEMORY_BYTES = 2 * 1024**3


class DataNotFoundError(KdlError, FileNotFoundError):
    """No source could provide the dataset; the message says how to get it."""


@dataclasses.dataclass
class ImageDataset:
    """Unbatched ``tf.data.Dataset``s of ``(uint8[H, W, C], int64 label)`` per split.

    ``arrays`` holds the numpy arrays behind them when the data is in memory.
    """

    name: str
    train: object
    validation: object
    test: object
    num_classes: int
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    source: str
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] | None = None

    def split_sizes(self) -> dict[str, int]:
        if self.arrays is not None:
            return {k: len(v[1]) for k, v in self.arrays.items()}
        return {k: int(getattr(self, k).cardinality()) for k in ("train", "validation", "test")}


def _check_fraction(validation_fraction) -> None:
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(
            "`validation_fraction` must be in [0, 1). "
            f"Received: validation_fraction={validation_fraction!r}"
        )


def carve_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """Split ``(x, y)`` into train and validation by a seeded permutation."""
    _check_fraction(fraction)
    n_val = int(round(len(x) * fraction))
    order = np.random.default_rng(seed).permutation(len(x))
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx])


def from_arrays(x_train, y_train, x_test, y_test, *, name: str = "arrays",
                class_names=None, validation_fraction: float = 0.1, seed: int = 0,
                source: str = "arrays") -> ImageDataset:
    """An :class:`ImageDataset` from numpy arrays (images ``[N, H, W]`` or ``[N, H, W, C]``)."""
    import tensorflow as tf

    arrays = {}
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x, y = np.asarray(x), np.asarray(y).reshape(-1)
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or len(x) != len(y):
            raise DataError(
                f"Images must be [N, H, W] or [N, H, W, C] with one label each. "
                f"Received: x_{split}.shape={x.shape}, y_{split}.shape={y.shape}"
            )
        if x.dtype != np.uint8:
            if x.min() < 0 or x.max() > 255:
                raise DataError(
                    f"Images must be uint8 or values in [0, 255]. "
                    f"Received: x_{split} in [{x.min()}, {x.max()}]"
                )
            x = x.astype(np.uint8)
        bad = np.flatnonzero((y < 0) | (y >= len(class_names) if class_names else y < 0))
        if len(bad):
            most = f" to {len(class_names) - 1}" if class_names else " from 0"
            raise DataError(
                f"Labels of {name} must be class ids 0{most}: {len(bad)} are not, first "
                f"y_{split}[{bad[0]}]={y[bad[0]]} (from {source}). Received: source={source!r}")
        arrays[split] = (x, y.astype("int64"))
    (xt, yt), (xv, yv) = carve_validation(*arrays["train"], validation_fraction, seed)
    arrays = {"train": (xt, yt), "validation": (xv, yv), "test": arrays["test"]}
    num_classes = int(max(arrays["train"][1].max(), arrays["test"][1].max())) + 1
    if class_names is None:
        class_names = tuple(str(i) for i in range(num_classes))
    datasets = {k: tf.data.Dataset.from_tensor_slices(v) for k, v in arrays.items()}
    return ImageDataset(name=name, num_classes=len(class_names), class_names=tuple(class_names),
                        image_shape=tuple(xt.shape[1:]), source=source, arrays=arrays,
                        **datasets)


def _idx_candidates(name: str, data_dir):
    if data_dir is not None:
        yield os.fspath(data_dir)
        return
    env = os.environ.get("KDL_DATA_DIR")
    if env:
        yield os.path.join(env, name)
        yield env
    if name == "fashion_mnist":
        yield DEBIAN_FASHION_MNIST


def load_image_dataset(name: str, data_dir=None, validation_fraction: float = 0.1,
                       seed: int = 0):
    """Load an image-classification dataset by name; see the module docstring for the order.

    Returns an :class:`ImageDataset` with ``.train``, ``.validation``, ``.test``,
    ``.num_classes`` and ``.class_names``.
    """
    _check_fraction(validation_fraction)
    for directory in _idx_candidates(name, data_dir):
        if os.path.isdir(directory) and find_idx_files(directory):
            (x_train, y_train), (x_test, y_test) = load_idx_directory(directory)
            names = {"fashion_mnist": FASHION_MNIST_CLASSES, "mnist": MNIST_CLASSES}.get(name)
            return from_arrays(x_train, y_train, x_test, y_test, name=name, class_names=names,
                               validation_fraction=validation_fraction, seed=seed,
                               source=f"idx:{directory}")
        if data_dir is not None and os.path.isdir(directory):
            return from_directory(directory, name=name, validation_fraction=validation_fraction,
                                  seed=seed)
    if data_dir is not None:
        raise DataNotFoundError(
            f"No IDX files or image folders found for '{name}'. Received: data_dir={data_dir!r}"
        )
    return load_tfds(name, validation_fraction=validation_fraction, seed=seed)


def _how_to_get(name: str) -> str:
    apt = ("install Debian's package with `apt-get install dataset-fashion-mnist`, "
           if name == "fashion_mnist" else "")
    return (f"Dataset '{name}' is not available offline: {apt}put MNIST-layout IDX files in "
            f"$KDL_DATA_DIR, or run where TFDS can download it (internet).")


def load_tfds(name: str, validation_fraction: float = 0.1, seed: int = 0,
              tfds_data_dir=None) -> ImageDataset:
    """Load a TFDS image-classification dataset (downloads where there is internet)."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=tfds_data_dir)
    except Exception as e:  # unknown name: TFDS's own message lists close names
        raise DataNotFoundError(f"{_how_to_get(name)} ({type(e).__name__}: {e})") from None
    features = builder.info.features
    if "image" not in features or "label" not in features:
        raise ValueError(
            f"TFDS dataset '{name}' is not an image-classification dataset "
            f"(needs 'image' and 'label' features). Received: name={name!r}"
        )
    prepared = builder.data_path.exists() and any(builder.data_path.iterdir())
    if not prepared and os.environ.get("KDL_OFFLINE", "") not in ("", "0"):
        # Offline, TFDS spends minutes in download retries before it fails.
        raise DataNotFoundError(f"{_how_to_get(name)} (KDL_OFFLINE is set: no download tried)")
    try:
        builder.download_and_prepare()
    except Exception as e:
        raise DataNotFoundError(f"{_how_to_get(name)} ({type(e).__name__})") from None
    class_names = tuple(features["label"].names)
    shape = tuple(features["image"].shape)
    try:
        n_train = builder.info.splits["train"].num_examples
    except KeyError:
        n_train = 0
    if n_train * math.prod(d or 1 for d in shape) <= MAX_IN_MEMORY_BYTES and None not in shape:
        arrays = {}
        for split in ("train", "test"):
            ds = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
            xs, ys = zip(*tfds.as_numpy(ds.batch(4096)), strict=True)
            arrays[split] = (np.concatenate(xs), np.concatenate(ys))
        return from_arrays(*arrays["train"], *arrays["test"], name=name, class_names=class_names,
                           validation_fraction=validation_fraction, seed=seed,
                           source=f"tfds:{name}")
    # Too large for memory: TFDS percent slicing (deterministic; the seed is not used).
    cut = 100 - int(round(validation_fraction * 100))
    train, validation, test = builder.as_dataset(
        split=[f"train[:{cut}%]", f"train[{cut}%:]", "test"], as_supervised=True,
        shuffle_files=False)
    return ImageDataset(name=name, train=train, validation=validation, test=test,
                        num_classes=len(class_names), class_names=class_names,
                        image_shape=shape, source=f"tfds:{name}")


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def from_directory(directory, *, name: str | None = None, validation_fraction: float = 0.1,
                   seed: int = 0, image_size=None, color_mode: str | None = None) -> ImageDataset:
    """Image folders in ``keras.utils.image_dataset_from_directory``'s layout.

    ``directory/train/<class>/*.png`` and ``directory/test/<class>/*.png``; or, with no
    train/test folders, ``directory/<class>/*`` with 10% (seeded) held out as test.
    All images must share one size unless ``image_size`` resizes them.
    """
    from PIL import Image

    directory = os.fspath(directory)

    def read_tree(root, class_names=None):
        classes = class_names or sorted(
            d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        if not classes:
            raise DataNotFoundError(f"No class folders in {root}")
        xs, ys = [], []
        for label, cls in enumerate(classes):
            folder = os.path.join(root, cls)
            for fname in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                if not fname.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                img = Image.open(os.path.join(folder, fname))
                img = img.convert(color_mode or ("L" if img.mode in ("L", "1", "P")
                                                 and color_mode is None else "RGB"))
                if image_size is not None:
                    img = img.resize(tuple(image_size)[::-1])
                xs.append(np.asarray(img))
                ys.append(label)
        if not xs:
            raise DataNotFoundError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
        shapes = {x.shape for x in xs}
        if len(shapes) > 1:
            raise ValueError(
                f"Images under {root} differ in size {sorted(shapes)[:3]}: pass image_size. "
                f"Received: image_size={image_size!r}"
            )
        return np.stack(xs), np.asarray(ys), tuple(classes)

    train_dir, test_dir = os.path.join(directory, "train"), os.path.join(directory, "test")
    if os.path.isdir(train_dir) and os.path.isdir(test_dir):
        x_train, y_train, classes = read_tree(train_dir)
        x_test, y_test, _ = read_tree(test_dir, classes)
    else:
        x, y, classes = read_tree(directory)
        (x_train, y_train), (x_test, y_test) = carve_validation(x, y, 0.1, seed + 1)
    return from_arrays(x_train, y_train, x_test, y_test, name=name or os.path.basename(directory),
                       class_names=classes, validation_fraction=validation_fraction, seed=seed,
                       source=f"folders:{directory}")
