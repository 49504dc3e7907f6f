"""Where images and labels come from: one spec, one registry of sources.

A recipe's ``data`` (and ``kdl train --data SPEC``) is either a data set's name or
``SOURCE:ARGUMENT``, one registered function per source (:func:`register_source`):

    folder:PATH     a folder of images, Keras' layout (kdl.data.folders), decoded lazily
    cifar10:PATH    CIFAR-10's python tarball (or the folder it unpacks to), without TFDS
    cifar100:PATH   CIFAR-100's (fine labels)
    idx:DIR         MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST, ...)
    npz:FILE        x_train, y_train, x_test, y_test (and optionally class_names)

Every source's :class:`ImageDataset` carries a ``fingerprint``: which data it was (a digest
of the arrays or of each split's file list) and how it was split (seed, sizes), so a run's
record says what it was measured on.

For a name, :func:`load_image_dataset` looks, in order, at ``data_dir``; MNIST-layout IDX files in
``$KDL_DATA_DIR`` or ``/usr/share/datasets/fashion-mnist`` (Debian's
``dataset-fashion-mnist``, for ``fashion_mnist`` only); then TFDS, which downloads any
of its image-classification datasets (mnist, fashion_mnist, cifar10, cifar100, ...)
where there is internet (set ``KDL_OFFLINE=1`` to fail at once instead of waiting for
TFDS's download retries). The validation split is always carved from train, seeded and
deterministic, never from test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Callable

import numpy as np

from kdl._names import close_matches
from kdl.data.dataset import ImageDataset, carve_validation, check_fraction  # noqa: F401
from kdl.data.idx import find_idx_files, load_idx_directory
from kdl.errors import DataError, KdlError
from kdl.platform import tensorflow_available

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_CLASSES = tuple(str(i) for i in range(10))
# Datasets whose train split is larger than this stay on disk (TFDS percent slicing).
MAX_IN_MEMORY_BYTES = 2 * 1024**3


class DataNotFoundError(KdlError, FileNotFoundError):
    """No source could provide the dataset; the message says how to get it."""


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def from_arrays(x_train, y_train, x_test, y_test, *, name: str = "arrays",
                class_names=None, validation_fraction: float = 0.1, seed: int = 0,
                source: str = "arrays", fingerprint: dict | None = None) -> ImageDataset:
    """An :class:`ImageDataset` from numpy arrays (images ``[N, H, W]`` or ``[N, H, W, C]``).

    Its fingerprint adds to ``fingerprint`` (e.g. an archive's digest) the digest of the
    arrays (train before the validation carve, and test), the seed and the split sizes.
    Where TensorFlow is not installed its splits are the arrays alone (``.train`` and the
    others None): Keras' PyDataset feeds them (:mod:`kdl.data.feed`)."""
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
    data_digest = _digest(*arrays["train"], *arrays["test"])
    (xt, yt), (xv, yv) = carve_validation(*arrays["train"], validation_fraction, seed)
    arrays = {"train": (xt, yt), "validation": (xv, yv), "test": arrays["test"]}
    fingerprint = {"source": source, **(fingerprint or {}), "digest": data_digest, "seed": seed,
                   "validation_fraction": validation_fraction,
                   "split_sizes": {k: len(v[1]) for k, v in arrays.items()}}
    num_classes = int(max(arrays["train"][1].max(), arrays["test"][1].max())) + 1
    if class_names is None:
        class_names = tuple(str(i) for i in range(num_classes))
    datasets = dict.fromkeys(arrays)
    if tensorflow_available():
        import tensorflow as tf

        datasets = {k: tf.data.Dataset.from_tensor_slices(v) for k, v in arrays.items()}
    return ImageDataset(name=name, num_classes=len(class_names), class_names=tuple(class_names),
                        image_shape=tuple(xt.shape[1:]), source=source, arrays=arrays,
                        fingerprint=fingerprint, **datasets)


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
                       seed: int = 0, image_shape=None):
    """Load an image-classification dataset by name or ``SOURCE:ARGUMENT`` spec (see the
    module docstring). ``image_shape`` (H, W, C): what lazily decoded sources (folders)
    bring every image to; array sources keep their own shape.

    Returns an :class:`ImageDataset` with ``.train``, ``.validation``, ``.test``,
    ``.num_classes``, ``.class_names`` and ``.fingerprint``.
    """
    check_fraction(validation_fraction)
    kind, argument = split_spec(name)
    if kind is not None:
        return _SOURCES[kind](argument, validation_fraction=validation_fraction, seed=seed,
                              image_shape=image_shape)
    for directory in _idx_candidates(name, data_dir):
        if os.path.isdir(directory) and find_idx_files(directory):
            return _from_idx(directory, name, validation_fraction, seed)
        if data_dir is not None and os.path.isdir(directory):
            return from_directory(directory, validation_fraction=validation_fraction, seed=seed,
                                  image_size=image_shape[:2] if image_shape else None)
    if data_dir is not None:
        raise DataNotFoundError(
            f"No IDX files or image folders found for '{name}'. Received: data_dir={data_dir!r}"
        )
    return load_tfds(name, validation_fraction=validation_fraction, seed=seed)


def _from_idx(directory: str, name: str, validation_fraction: float, seed: int):
    (x_train, y_train), (x_test, y_test) = load_idx_directory(directory)
    names = {"fashion_mnist": FASHION_MNIST_CLASSES, "mnist": MNIST_CLASSES}.get(name)
    if names is None and os.path.realpath(directory) == os.path.realpath(DEBIAN_FASHION_MNIST):
        names = FASHION_MNIST_CLASSES
    return from_arrays(x_train, y_train, x_test, y_test, name=name, class_names=names,
                       validation_fraction=validation_fraction, seed=seed,
                       source=f"idx:{directory}")


# --- the registry of sources ------------------------------------------------------------

_SOURCES: dict[str, Callable] = {}


def register_source(kind: str) -> Callable[[Callable], Callable]:
    """Register ``fn(argument, *, validation_fraction, seed, image_shape) -> ImageDataset``
    as the source ``KIND:ARGUMENT``; a duplicate kind is refused."""
    def decorator(fn: Callable) -> Callable:
        if kind in _SOURCES:
            raise ValueError(f"A data source named '{kind}' is already registered. "
                             f"Received: kind={kind!r}")
        _SOURCES[kind] = fn
        return fn

    return decorator


def list_sources() -> list[str]:
    return sorted(_SOURCES)


def split_spec(spec: str) -> tuple[str | None, str]:
    """``("folder", "/abs/path")`` for ``"folder:path"``; ``(None, spec)`` for a data set's
    name. A ``KIND:`` that is no registered source, or one without its argument, is a
    :class:`kdl.errors.DataError` naming the sources."""
    if not isinstance(spec, str) or ":" not in spec:
        return None, spec
    kind, argument = spec.split(":", 1)
    if kind not in _SOURCES:
        matches = close_matches(kind, list(_SOURCES))
        hint = f" Did you mean: {', '.join(matches)}?" if matches else ""
        raise DataError(f"Unknown data source '{kind}'.{hint} Sources: "
                        f"{', '.join(f'{k}:PATH' for k in list_sources())}, or a data set's name. "
                        f"Received: data={spec!r}")
    if not argument.strip():
        raise DataError(f"The data source {kind} needs a path: {kind}:PATH. Received: data={spec!r}")
    return kind, os.path.abspath(os.path.expanduser(argument))


def normalize_spec(spec: str) -> str:
    """``spec`` with its path made absolute (a workdir's recipe reruns from anywhere)."""
    kind, argument = split_spec(spec)
    return spec if kind is None else f"{kind}:{argument}"


@register_source("folder")
def _folder(path, *, validation_fraction, seed, image_shape):
    from kdl.data.folders import load_folder

    if not tensorflow_available():
        raise DataError(f"folder: sources decode their images with TensorFlow (tf.io), which "
                        f"is not installed here; write them as an npz (x_train, y_train, "
                        f"x_test, y_test) and pass npz:FILE. Received: data=folder:{path}")

    return load_folder(path, validation_fraction=validation_fraction, seed=seed,
                       image_shape=image_shape)


def _archive(kind: str, layout_name: str):
    def source(path, *, validation_fraction, seed, image_shape):
        from kdl.data import archives

        (x_train, y_train), (x_test, y_test), names, digest = archives.read_cifar(
            path, getattr(archives, layout_name))
        return from_arrays(x_train, y_train, x_test, y_test, name=kind, class_names=names,
                           validation_fraction=validation_fraction, seed=seed,
                           source=f"{kind}:{path}", fingerprint={"archive_sha256": digest})

    return register_source(kind)(source)


_archive("cifar10", "CIFAR10")
_archive("cifar100", "CIFAR100")


@register_source("idx")
def _idx(path, *, validation_fraction, seed, image_shape):
    if not os.path.isdir(path) or not find_idx_files(path):
        what = "has no MNIST-layout IDX files" if os.path.isdir(path) else "is not a folder"
        raise DataError(f"{path} {what} (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte"
                        f"[.gz], t10k-...). Received: data=idx:{path}")
    return _from_idx(path, os.path.basename(path.rstrip(os.sep)) or "idx", validation_fraction,
                     seed)


@register_source("npz")
def _npz(path, *, validation_fraction, seed, image_shape):
    from kdl.data.archives import read_npz

    (x_train, y_train), (x_test, y_test), names, digest = read_npz(path)
    return from_arrays(x_train, y_train, x_test, y_test,
                       name=os.path.splitext(os.path.basename(path))[0], class_names=names,
                       validation_fraction=validation_fraction, seed=seed, source=f"npz:{path}",
                       fingerprint={"file_sha256": digest})


def _how_to_get(name: str) -> str:
    apt = ("install Debian's package with `apt-get install dataset-fashion-mnist`, "
           if name == "fashion_mnist" else "")
    return (f"Dataset '{name}' is not available offline: {apt}put MNIST-layout IDX files in "
            f"$KDL_DATA_DIR, or run where TFDS can download it (internet).")


def load_tfds(name: str, validation_fraction: float = 0.1, seed: int = 0,
              tfds_data_dir=None) -> ImageDataset:
    """Load a TFDS image-classification dataset (downloads where there is internet)."""
    if not tensorflow_available():
        raise DataNotFoundError(f"{_how_to_get(name)} (TFDS needs TensorFlow, which is not "
                                f"installed here)")
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


def from_directory(directory, *, name: str | None = None, validation_fraction: float = 0.1,
                   seed: int = 0, image_size=None, color_mode: str | None = None) -> ImageDataset:
    """Image folders in ``keras.utils.image_dataset_from_directory``'s layout, decoded lazily
    (:mod:`kdl.data.folders`): ``directory/train/<class>/*`` and ``directory/test/<class>/*``,
    or ``directory/<class>/*`` with a seeded tenth of each class held out as test.
    ``image_size`` (H, W) resizes every image (needed when they differ in size);
    ``color_mode`` ``"grayscale"`` or ``"rgb"`` (default: grey where every image is)."""
    from kdl.data.folders import default_channels, index_folder, load_folder

    modes = {"grayscale": 1, "rgb": 3, None: None}
    if color_mode not in modes:
        raise ValueError(f"`color_mode` must be 'grayscale', 'rgb' or None. "
                         f"Received: color_mode={color_mode!r}")
    channels = modes[color_mode]
    if image_size is not None or channels is not None:
        index = index_folder(directory)
        if image_size is None:
            if len(index.sizes) > 1:
                raise DataError(f"Images under {directory} differ in size: pass image_size. "
                                f"Received: image_size=None")
            image_size = index.sizes[0]
        channels = channels or default_channels(index)
        shape = (*image_size, channels)
    else:
        shape = None
    ds = load_folder(directory, validation_fraction=validation_fraction, seed=seed,
                     image_shape=shape)
    return dataclasses.replace(ds, name=name) if name else ds
