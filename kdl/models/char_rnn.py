"""Character-level RNN text generator (Karpathy's char-rnn, after Graves 2013).

embedding -> one or more LSTM or GRU layers -> dense logits over the vocabulary.
:func:`generate` samples text one character at a time from a stateful, batch-1 copy of
a trained model. Run it with ``kdl train char_rnn_pystdlib``.
"""

from __future__ import annotations

import keras
import numpy as np

from kdl.models._common import check_choice, check_initializer, check_positive_int, check_rate
from kdl.models._registry import register_model
from kdl.models.mlp import check_units

_RNN = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


@register_model()
def char_rnn(
    vocabulary_size: int = 98,
    embedding_dim: int = 64,
    rnn_units=(256,),
    rnn_type: str = "lstm",
    dropout: float = 0.0,
    sequence_length: int | None = None,
    batch_size: int | None = None,
    stateful: bool = False,
    weights=None,
    kernel_initializer="glorot_uniform",
    name: str = "char_rnn",
) -> keras.Model:
    """Maps int character ids ``[batch, time]`` to next-character logits ``[batch, time, V]``.

    ``rnn_units``: width of each recurrent layer (its length is the depth).
    """
    check_positive_int("vocabulary_size", vocabulary_size)
    check_positive_int("embedding_dim", embedding_dim)
    rnn_units = check_units("rnn_units", rnn_units)
    check_choice("rnn_type", rnn_type, tuple(_RNN))
    check_rate("dropout", dropout)
    check_initializer("kernel_initializer", kernel_initializer)
    if stateful and batch_size is None:
        raise ValueError("A stateful char_rnn needs a fixed `batch_size`. Received: batch_size=None")
    import os
    if weights is not None and not os.path.exists(weights):
        raise ValueError(
            f"`weights` must be None or the path to an existing weights file. "
            f"Received: weights={weights!r}"
        )
    inputs = keras.Input(batch_shape=(batch_size, sequence_length), dtype="int32", name="chars")
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(inputs)
    for i, units in enumerate(rnn_units, start=1):
        x = _RNN[rnn_type](units, return_sequences=True, stateful=stateful, dropout=dropout,
                           kernel_initializer=kernel_initializer, name=f"{rnn_type}_{i}")(x)
    outputs = keras.layers.Dense(vocabulary_size, kernel_initializer=kernel_initializer,
                                 name="logits")(x)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def stateful_copy(model: keras.Model, batch_size: int = 1) -> keras.Model:
    """A stateful copy of a char_rnn model (same weights), fed one step at a time."""
    inputs = keras.Input(batch_shape=(batch_size, 1), dtype="int32", name="chars")
    x = inputs
    for layer in model.layers[1:]:
        config = layer.get_config()
        if isinstance(layer, keras.layers.RNN | keras.layers.LSTM | keras.layers.GRU):
            config["stateful"] = True
        x = type(layer).from_config(config)(x)
    copy = keras.Model(inputs, x, name=f"{model.name}_stateful")
    copy.set_weights(model.get_weights())
    return copy


def generate(model: keras.Model, vocabulary, seed_text: str, length: int,
             temperature: float = 1.0, seed: int | None = None) -> str:
    """Sample ``length`` characters after ``seed_text`` from a trained char_rnn.

    ``vocabulary``: the characters, in id order. ``temperature`` divides the logits;
    at or near 0 the most likely character is taken (deterministic).
    Returns the generated characters (without the seed).
    """
    vocabulary = list(vocabulary)
    index = {c: i for i, c in enumerate(vocabulary)}
    if not seed_text:
        raise ValueError("`seed_text` must hold at least one character. Received: seed_text=''")
    unknown = sorted(set(seed_text) - set(index))
    if unknown:
        raise ValueError(
            f"`seed_text` has characters outside the vocabulary: {unknown!r}. "
            f"Received: seed_text={seed_text!r}"
        )
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(f"`length` must be a non-negative integer. Received: length={length!r}")
    if temperature < 0:
        raise ValueError(f"`temperature` must be >= 0. Received: temperature={temperature!r}")
    rng = np.random.default_rng(seed)
    step_model = stateful_copy(model)
    step = keras.ops.convert_to_tensor  # local alias for the per-step input

    logits = None
    for ch in seed_text:
        logits = step_model(step(np.array([[index[ch]]], dtype="int32")), training=False)
    out = []
    for _ in range(length):
        last = keras.ops.convert_to_numpy(logits)[0, -1].astype("float64")
        if temperature < 1e-3:
            next_id = int(np.argmax(last))
        else:
            z = last / temperature
            p = np.exp(z - z.max())
            p /= p.sum()
            next_id = int(rng.choice(len(p), p=p))
        out.append(vocabulary[next_id])
        logits = step_model(step(np.array([[next_id]], dtype="int32")), training=False)
    return "".join(out)
