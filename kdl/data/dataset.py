"""The data set type every source returns (:class:`ImageDataset`) and the seeded
validation carve they share."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass
class ImageDataset:
    """Unbatched ``tf.data.Dataset``s of ``(uint8[H, W, C], int64 label)`` per split.

    ``arrays`` holds the numpy arrays behind them when the data is in memory; ``files``
    the paths and labels behind them when they are decoded lazily by ``decode``
    (``(path, label) -> (image, label)``), which a pipeline maps after shuffling the paths.
    ``fingerprint``: what the data was and how it was split (:mod:`kdl.data.sources`).
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
    files: dict[str, tuple[list, np.ndarray]] | None = None
    decode: Callable | None = None
    fingerprint: dict = dataclasses.field(default_factory=dict)

    def split_sizes(self) -> dict[str, int]:
        if self.arrays is not None:
            return {k: len(v[1]) for k, v in self.arrays.items()}
        if self.files is not None:
            return {k: len(v[1]) for k, v in self.files.items()}
        return {k: int(getattr(self, k).cardinality()) for k in ("train", "validation", "test")}

    @classmethod
    def from_files(cls, *, name: str, files: dict, decode: Callable, class_names, image_shape,
                   source: str, fingerprint: dict) -> ImageDataset:
        """Splits of files decoded lazily: ``files[split] = (paths, labels)``."""
        import tensorflow as tf

        def dataset(split):
            paths, labels = files[split]
            ds = tf.data.Dataset.from_tensor_slices(
                (tf.constant(list(paths), tf.string), tf.constant(labels, tf.int64)))
            return ds.map(decode, num_parallel_calls=os.cpu_count() or 1)

        return cls(name=name, train=dataset("train"), validation=dataset("validation"),
                   test=dataset("test"), num_classes=len(class_names),
                   class_names=tuple(class_names), image_shape=tuple(image_shape),
                   source=source, files=files, decode=decode, fingerprint=fingerprint)


def check_fraction(validation_fraction) -> None:
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(
            "`validation_fraction` must be in [0, 1). "
            f"Received: validation_fraction={validation_fraction!r}"
        )


def carve_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """Split ``(x, y)`` into train and validation by a seeded permutation."""
    check_fraction(fraction)
    n_val = int(round(len(x) * fraction))
    order = np.random.default_rng(seed).permutation(len(x))
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx])


def noisy_labels(labels: np.ndarray, fraction: float, num_classes: int, seed: int) -> np.ndarray:
    """``labels`` with ``round(fraction * N)`` of them, chosen at random, replaced by labels
    drawn uniformly from the ``num_classes`` (so about 1/num_classes of those stay right by
    chance, as in Zhang et al. 2017). Seeded: one seed, one corruption."""
    labels = np.asarray(labels).copy()
    rng = np.random.default_rng([seed, 2017])
    chosen = rng.permutation(len(labels))[:int(round(fraction * len(labels)))]
    labels[chosen] = rng.integers(0, num_classes, size=len(chosen)).astype(labels.dtype)
    return labels


def with_label_noise(ds: ImageDataset, fraction: float, seed: int) -> ImageDataset:
    """``ds`` with ``fraction`` of its training labels random (validation and test as they
    were); the fingerprint says so. ``fraction`` 0: ``ds`` itself."""
    if not fraction:
        return ds
    fingerprint = {**ds.fingerprint, "label_noise": fraction}
    if ds.arrays is not None:
        x, y = ds.arrays["train"]
        arrays = {**ds.arrays, "train": (x, noisy_labels(y, fraction, ds.num_classes, seed))}
        train = ds.train
        if train is not None:
            import tensorflow as tf

            train = tf.data.Dataset.from_tensor_slices(arrays["train"])
        return dataclasses.replace(ds, arrays=arrays, train=train, fingerprint=fingerprint)
    if ds.files is not None:
        paths, y = ds.files["train"]
        files = {**ds.files, "train": (paths, noisy_labels(y, fraction, ds.num_classes, seed))}
        return ImageDataset.from_files(name=ds.name, files=files, decode=ds.decode,
                                       class_names=ds.class_names, image_shape=ds.image_shape,
                                       source=ds.source, fingerprint=fingerprint)
    from kdl.errors import ConfigError

    raise ConfigError(f"label_noise needs the labels in memory (arrays or files); "
                      f"{ds.source} streams them. Received: label_noise={fraction!r}")
