"""kdl's data layer: sources, augmentation and tf.data pipelines.

    >>> from kdl import data
    >>> ds = data.load_image_dataset("fashion_mnist")   # offline, from Debian's package
    >>> train = data.make_pipeline(ds.train, 128, training=True)
"""

from kdl.data.idx import IDXError, read_idx
from kdl.data.pipeline import make_pipeline, normalization_layer
from kdl.data.sources import (DataNotFoundError, ImageDataset, from_arrays, from_directory,
                              load_image_dataset, load_tfds)
from kdl.data.text import TextCorpus, load_text_corpus

__all__ = [
    "DataNotFoundError",
    "IDXError",
    "ImageDataset",
    "TextCorpus",
    "from_arrays",
    "from_directory",
    "load_image_dataset",
    "load_text_corpus",
    "load_tfds",
    "make_pipeline",
    "normalization_layer",
    "read_idx",
]
