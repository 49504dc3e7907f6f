"""kdl's data layer: sources, augmentation and tf.data pipelines.

    >>> from kdl import data
    >>> ds = data.load_image_dataset("fashion_mnist")   # offline, from Debian's package
    >>> train = data.make_pipeline(ds.train, 128, training=True)
    >>> photos = data.load_image_dataset("folder:~/photos", image_shape=(64, 64, 3))

Names load on first use, so that the parts that need no TensorFlow (the IDX reader, the
validation split, the augmentation layers inside a model on JAX or PyTorch) import on a
machine that has none; the tf.data pipelines import TensorFlow when they are used.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "IDXError": "idx",
    "read_idx": "idx",
    "make_pipeline": "pipeline",
    "normalization_layer": "normalize",
    "ArrayFeed": "feed",
    "DataNotFoundError": "sources",
    "ImageDataset": "dataset",
    "index_folder": "folders",
    "list_sources": "sources",
    "register_source": "sources",
    "from_arrays": "sources",
    "from_directory": "sources",
    "load_image_dataset": "sources",
    "load_tfds": "sources",
    "TextCorpus": "text",
    "load_text_corpus": "text",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(importlib.import_module(f"kdl.data.{_HOMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kdl.data' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_HOMES))
