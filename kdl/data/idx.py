"""Reader for the MNIST IDX format (LeCun's), gzipped or not, with every size checked.

A truncated or corrupt file is a :class:`IDXError` naming the file, never garbage.
Format: 2 zero bytes, a type code (0x08 = uint8), the number of dimensions, then each
dimension as a big-endian uint32, then the data.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np
from kdl.errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IDXError(DataError):
    """An IDX file that cannot be read as what it claims to be."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into a numpy array, checking its header and size."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise IDXError(f"Cannot read IDX file {path}: {e}") from None
    if len(raw) < 4:
        raise IDXError(f"IDX file {path} is truncated: {len(raw)} bytes, no header.")
    zero, type_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or type_code not in _DTYPES or not 1 <= ndim <= 4:
        raise IDXError(
            f"IDX file {path} has a bad magic number 0x{raw[:4].hex()} "
            "(expected 0x0000, a type code, and 1 to 4 dimensions)."
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"IDX file {path} is truncated inside its header.")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_DTYPES[type_code])
    expected = math.prod(dims) * dtype.itemsize
    body = len(raw) - header
    if body != expected:
        what = "truncated" if body < expected else "longer than its header says"
        raise IDXError(
            f"IDX file {path} is {what}: header says {dims} ({expected} bytes of data), "
            f"found {body} bytes."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def find_idx_files(directory: str | os.PathLike) -> dict[str, str] | None:
    """The four MNIST-layout files in ``directory`` (gzipped or not), or None if any is missing."""
    found = {}
    for key, stem in (("x_train", "train-images-idx3-ubyte"), ("y_train", "train-labels-idx1-ubyte"),
                      ("x_test", "t10k-images-idx3-ubyte"), ("y_test", "t10k-labels-idx1-ubyte")):
        for candidate in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                          stem.replace("-idx", ".idx") + ".gz"):
            p = os.path.join(directory, candidate)
            if os.path.exists(p):
                found[key] = p
                break
        else:
            return None
    return found


_CACHE: dict[tuple, dict] = {}


def load_idx_directory(directory: str | os.PathLike):
    """``(x_train, y_train), (x_test, y_test)`` from the MNIST-layout files in ``directory``.

    Read once per process while the files are unchanged (a run checks its data exists,
    then trains on it); the arrays are read-only."""
    files = find_idx_files(directory)
    if files is None:
        raise IDXError(f"No MNIST-layout IDX files (train-images-idx3-ubyte[.gz], ...) in {directory}")
    key = tuple(sorted((k, p, os.stat(p).st_mtime_ns, os.stat(p).st_size) for k, p in files.items()))
    if key not in _CACHE:
        _CACHE.clear()  # one data set held at a time
        arrays = {k: read_idx(p) for k, p in files.items()}
        for a in arrays.values():
            a.flags.writeable = False
        _CACHE[key] = arrays
    arrays = _CACHE[key]
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise IDXError(
                f"IDX files in {directory} disagree: {split} images {x.shape} vs labels {y.shape}."
            )
    return ((arrays["x_train"][..., None], arrays["y_train"].astype("int64")),
            (arrays["x_test"][..., None], arrays["y_test"].astype("int64")))
