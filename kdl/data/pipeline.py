"""tf.data input pipelines (without TensorFlow: :mod:`kdl.data.feed`).

:func:`make_pipeline`: cache -> shuffle (reshuffled each epoch) -> batch -> parallel
map (uint8 -> float32 in [0, 255], augmentation on the CPU) -> prefetch, with a
deterministic switch and a DATA auto-shard policy for in-memory data under
tf.distribute (FILE sharding cannot split one in-memory source). Given in-memory arrays
``(images, labels)`` instead of a dataset, it shuffles and batches indices and gathers
each batch at once (what Keras' own array adapter does) rather than shuffling and
batching single examples. Evaluation pipelines keep the data's order.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf


def make_pipeline(
    dataset,
    batch_size: int,
    *,
    training: bool,
    augmentation: keras.Layer | None = None,
    cache: bool = True,
    shuffle_buffer: int | None = None,
    seed: int = 0,
    deterministic: bool = False,
    drop_remainder: bool = False,
    image_size=None,
    repeat: bool = False,
    autotune: bool = False,
    decode=None,
) -> tf.data.Dataset:
    """Batches of ``(float32 images in [0, 255], labels)`` ready for ``fit``.

    ``dataset``: unbatched ``(uint8[H, W, C], label)`` elements, or a pair of arrays
    ``(images, labels)`` held in memory. Augmentation runs only when ``training``.
    ``image_size`` resizes (bilinear) after augmentation. ``decode``: the elements are
    ``(path, label)`` and ``decode`` reads each (:attr:`kdl.data.ImageDataset.decode`),
    in parallel after the paths are shuffled: nothing is cached, so memory holds a few
    batches, not the data set.

    ``autotune``: tf.data's autotuning, off by default, its two knobs (parallel
    batching, prefetch depth) set by hand instead: with it on, deleting an iterator that
    ran to its end (``fit`` does at every epoch's end) sometimes waited with every core
    idle, the longer the longer it had run (``benchmarks/epoch_boundary.py``; numbers in
    docs: performance). Turn it on for a pipeline whose cost autotuning would find, e.g.
    one that decodes from disk.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    # Evaluation keeps the order (predictions line up with the data); training may
    # take batches as they come.
    deterministic = deterministic or not training
    fetch = None
    if isinstance(dataset, tf.data.Dataset):
        ds = dataset.cache() if cache and decode is None else dataset
    elif isinstance(dataset, tuple | list) and len(dataset) == 2:
        images, labels = (tf.convert_to_tensor(a) for a in dataset)
        if images.shape[0] != labels.shape[0] or images.shape[0] == 0:
            raise ValueError("`dataset` arrays must hold the same positive number of images "
                             f"and labels. Received: {images.shape[0]} images, {labels.shape[0]} labels")
        ds = tf.data.Dataset.range(images.shape[0])

        def fetch(indices):
            return tf.gather(images, indices), tf.gather(labels, indices)
    else:
        raise ValueError("`dataset` must be a tf.data.Dataset or a pair (images, labels). "
                         f"Received: {type(dataset).__name__}")
    if training:
        if shuffle_buffer is None:
            n = int(ds.cardinality())
            shuffle_buffer = n if n > 0 else 10_000
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    cores = os.cpu_count() or 1
    if decode is not None:
        ds = ds.map(decode, num_parallel_calls=cores, deterministic=deterministic or None)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder,
                  num_parallel_calls=tf.data.AUTOTUNE if autotune else cores,
                  deterministic=deterministic or None)

    def prepare(*batch):
        images, labels = fetch(*batch) if fetch is not None else batch
        images = tf.cast(images, tf.float32)
        if training and augmentation is not None:
            images = augmentation(images, training=True)
        if image_size is not None:
            images = tf.image.resize(images, image_size)
        return images, labels

    # One map call per core, not AUTOTUNE: faster here (benchmarks/data_pipeline.py).
    ds = ds.map(prepare, num_parallel_calls=cores,
                deterministic=deterministic or None)
    options = tf.data.Options()
    options.deterministic = deterministic
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.autotune.enabled = autotune
    ds = ds.with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE if autotune else 2)
