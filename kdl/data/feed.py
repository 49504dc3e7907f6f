"""A feed without TensorFlow: batches of in-memory arrays through Keras' ``PyDataset``.

Where TensorFlow is installed, tf.data feeds every backend (:mod:`kdl.data.pipeline`); on a
machine with JAX or PyTorch and no TensorFlow (a common accelerator image) this does the
same job for data held in memory (IDX, CIFAR archives, npz), so that ``kdl train`` runs
there (``input_pipeline="pydataset"``, chosen by "auto" where TensorFlow is absent):

- a permutation of the training split per epoch, drawn from ``(seed, epoch)``, so a run
  resumed at epoch k sees the batches an unbroken one would have seen from k on
  (:meth:`ArrayFeed.epoch_callback` tells the feed which epoch ``fit`` is in);
- each batch gathered at once, cast to float32 pixels in [0, 255], augmented by the
  recipe's own augmentation layers called on the batch, so they run on Keras' backend and
  its device (the layers are Keras' ``DataLayer``: inside tf.data they run on TensorFlow,
  here on JAX or PyTorch);
- evaluation splits in order, unaugmented.

Nothing here imports TensorFlow. Keras' ``PyDataset`` is the feed its docs offer for
custom Python data; one worker, no threads: the order and the augmentation's random
stream are the seed's alone.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np


class ArrayFeed(keras.utils.PyDataset):
    """Batches ``(float32 images in [0, 255], labels)`` of ``images`` (uint8 ``[N, H, W, C]``)
    and ``labels``, shuffled per epoch and augmented when ``training``.

    ``targets``: ``(images, labels) -> (inputs, targets)`` applied to each batch last (an
    autoencoder's targets are its images). ``image_size``: resized (bilinear) after
    augmentation, as :func:`kdl.data.make_pipeline` does.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, *,
                 training: bool, augmentation: keras.Layer | None = None, seed: int = 0,
                 image_size=None, targets: Callable | None = None):
        super().__init__(workers=1, use_multiprocessing=False)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"`batch_size` must be a positive integer. Received: "
                             f"batch_size={batch_size!r}")
        labels = np.asarray(labels)
        if len(images) != len(labels) or len(labels) == 0:
            raise ValueError("`images` and `labels` must hold the same positive number of "
                             f"examples. Received: {len(images)} images, {len(labels)} labels")
        self.images, self.labels = images, labels
        self.batch_size, self.training, self.seed = batch_size, training, seed
        self.augmentation = augmentation if training else None
        self.image_size = tuple(image_size) if image_size else None
        self.targets = targets
        self.epoch = 0  # the epoch fit is in (epoch_callback), else counted here
        self._order, self._order_epoch = None, None

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def _indices(self, index: int):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if not self.training:
            return rows
        if self._order_epoch != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch])
            self._order, self._order_epoch = rng.permutation(len(self.labels)), self.epoch
        return np.sort(self._order[rows])  # the batch's members are random, not their order

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of a feed of {len(self)} batches")
        rows = self._indices(index)
        images = self.images[rows].astype("float32")
        labels = self.labels[rows]
        if self.augmentation is not None:
            images = self.augmentation(images, training=True)
        if self.image_size is not None:
            images = keras.ops.image.resize(images, self.image_size)
        return self.targets(images, labels) if self.targets else (images, labels)

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def epoch_callback(self) -> keras.callbacks.Callback:
        """A callback that tells the feed the epoch ``fit`` begins (after a resume, the one
        restored), so its permutation is that epoch's."""
        feed = self

        class _Epoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                feed.epoch = epoch

        return _Epoch()
