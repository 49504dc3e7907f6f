"""Text for the character-level RNN: a file, a folder, the Python standard library, TFDS.

:func:`load_text_corpus` returns a :class:`TextCorpus` (the text, its character
vocabulary and the text as ids); :meth:`TextCorpus.sequences` makes the (input, target)
pairs, target shifted by one character. The offline default corpus is the Python
standard library's own source on this machine; ``"tiny_shakespeare"`` comes from TFDS
where it can download.
"""

from __future__ import annotations

import dataclasses
import os
import string
import sysconfig

import numpy as np

# Printable ASCII (tab and newline included): code in any language, prose in English.
ASCII_VOCABULARY = tuple(sorted(set(string.printable) - {"\x0b", "\x0c", "\r"}))


@dataclasses.dataclass
class TextCorpus:
    name: str
    text: str
    vocabulary: tuple[str, ...]

    def __post_init__(self):
        index = {c: i for i, c in enumerate(self.vocabulary)}
        self.ids = np.fromiter((index[c] for c in self.text), dtype=np.int32, count=len(self.text))

    def encode(self, text: str) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.vocabulary)}
        return np.array([index[c] for c in text], dtype=np.int32)

    def decode(self, ids) -> str:
        return "".join(self.vocabulary[int(i)] for i in ids)

    def sequences(self, sequence_length: int, split: str = "train",
                  validation_fraction: float = 0.05, test_fraction: float = 0.05):
        """Unbatched ``tf.data`` of ``(ids[T], next ids[T])``, non-overlapping windows.

        The text is cut into contiguous train / validation / test parts, in that order.
        """
        import tensorflow as tf

        if sequence_length <= 0:
            raise ValueError(
                f"`sequence_length` must be positive. Received: sequence_length={sequence_length!r}"
            )
        n = len(self.ids)
        cut_val = int(n * (1 - validation_fraction - test_fraction))
        cut_test = int(n * (1 - test_fraction))
        part = {"train": self.ids[:cut_val], "validation": self.ids[cut_val:cut_test],
                "test": self.ids[cut_test:]}[split]
        windows = (len(part) - 1) // sequence_length
        if windows < 1:
            raise ValueError(
                f"The {split} text ({len(part)} characters) is shorter than one sequence. "
                f"Received: sequence_length={sequence_length}"
            )
        x = part[: windows * sequence_length].reshape(windows, sequence_length)
        y = part[1: windows * sequence_length + 1].reshape(windows, sequence_length)
        return tf.data.Dataset.from_tensor_slices((x, y))


def _clean(text: str) -> str:
    allowed = set(ASCII_VOCABULARY)
    text = text.replace("\r\n", "\n")
    return "".join(c if c in allowed else "?" for c in text)


def _read_tree(root: str, max_chars: int | None, suffix: str = ".py") -> str:
    parts, total = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in ("test", "tests", "idlelib", "site-packages",
                                          "__pycache__", "lib2to3"))
        for fname in sorted(filenames):
            if suffix and not fname.endswith(suffix):
                continue
            with open(os.path.join(dirpath, fname), encoding="utf-8", errors="replace") as f:
                parts.append(f.read())
            total += len(parts[-1])
            if max_chars is not None and total >= max_chars:
                return "\n".join(parts)[:max_chars]
    return "\n".join(parts)


def load_text_corpus(source: str | None = None, max_chars: int | None = 2_000_000) -> TextCorpus:
    """The text of ``source``: a file, a folder (its files, recursively), ``"pystdlib"``
    (the default: the Python standard library's source) or ``"tiny_shakespeare"`` (TFDS).
    """
    if max_chars is not None and max_chars <= 0:
        raise ValueError(f"`max_chars` must be positive. Received: max_chars={max_chars!r}")
    if source in (None, "pystdlib"):
        text, name = _read_tree(sysconfig.get_paths()["stdlib"], max_chars), "pystdlib"
    elif source == "tiny_shakespeare":
        import tensorflow_datasets as tfds

        from kdl.data.sources import DataNotFoundError

        builder = tfds.builder("tiny_shakespeare")
        prepared = builder.data_path.exists() and any(builder.data_path.iterdir())
        if not prepared and os.environ.get("KDL_OFFLINE", "") not in ("", "0"):
            raise DataNotFoundError("TFDS 'tiny_shakespeare' needs internet to download "
                                    "(KDL_OFFLINE is set: no download tried).")
        try:
            builder.download_and_prepare()
            ds = builder.as_dataset(split="train")
        except Exception as e:
            raise DataNotFoundError(
                f"TFDS 'tiny_shakespeare' needs internet to download ({type(e).__name__})."
            ) from None
        text = "".join(x["text"].decode("utf-8", errors="replace")
                       for x in tfds.as_numpy(ds))[:max_chars]
        name = "tiny_shakespeare"
    elif os.path.isdir(source):
        text, name = _read_tree(source, max_chars, suffix=""), os.path.basename(source)
    elif os.path.isfile(source):
        with open(source, encoding="utf-8", errors="replace") as f:
            text = f.read(max_chars) if max_chars else f.read()
        name = os.path.basename(source)
    else:
        from kdl.data.sources import DataNotFoundError

        raise DataNotFoundError(f"No text file or folder at {source!r}. Received: source={source!r}")
    text = _clean(text)
    if not text:
        raise ValueError(f"The text corpus is empty. Received: source={source!r}")
    return TextCorpus(name=name, text=text, vocabulary=ASCII_VOCABULARY)
