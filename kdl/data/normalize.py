"""In-model normalization: per-channel or per-pixel mean/std of the training split, by
``keras.layers.Normalization.adapt``, so the model carries its own preprocessing and an
exported model takes raw pixels. TensorFlow only where the split is a tf.data dataset."""

from __future__ import annotations

import keras
import numpy as np


def normalization_layer(data, per: str = "channel", batch_size: int = 1024,
                        name: str = "normalization"):
    """A ``keras.layers.Normalization`` adapted on ``data``: an unbatched tf.data dataset of
    ``(uint8 image, label)``, or the images themselves as an array ``[N, H, W, C]``.

    ``per="channel"``: one mean/std per channel; ``per="pixel"``: one per pixel and channel.
    """
    if per not in ("channel", "pixel"):
        raise ValueError(f"`per` must be 'channel' or 'pixel'. Received: per={per!r}")
    axis = -1 if per == "channel" else (1, 2, 3)
    # float32 whatever the global policy: adapt() fails under mixed_bfloat16 (Keras mixes
    # float32 statistics with bfloat16 batch moments), and statistics want the precision.
    layer = keras.layers.Normalization(axis=axis, name=name, dtype="float32")
    if isinstance(data, np.ndarray):
        layer.adapt(data.astype("float32"))  # one pass; Keras' adapt of an iterable asks for tf
        return layer
    import tensorflow as tf

    layer.adapt(data.map(lambda x, y: tf.cast(x, tf.float32)).batch(batch_size))
    return layer
