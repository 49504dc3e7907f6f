"""Data sets as their authors publish them, read without TFDS: CIFAR-10 and CIFAR-100's
python tarballs, and numpy ``.npz`` files.

CIFAR (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html): ``cifar-10-python.tar.gz``
holds ``cifar-10-batches-py/data_batch_1`` to ``_5``, ``test_batch`` and ``batches.meta``;
``cifar-100-python.tar.gz`` holds ``cifar-100-python/train``, ``test`` and ``meta``. Each is
a pickled dict: ``data`` (N x 3072 uint8, the red plane, then green, then blue, each 32x32
row by row) and ``labels`` (CIFAR-100: ``fine_labels`` and ``coarse_labels``). The tarball
or the folder it unpacks to both work. Pickles can run code, so they are read by an
unpickler that builds only what CIFAR's files hold (dicts, lists, strings, numbers, numpy
arrays) and refuses anything else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import tarfile
import zipfile

import numpy as np

from kdl.errors import DataError


@dataclasses.dataclass(frozen=True)
class CifarLayout:
    name: str
    folder: str  # inside the tarball
    train: tuple[str, ...]
    test: str
    meta: str
    labels_key: str
    names_key: str


CIFAR10 = CifarLayout("CIFAR-10", "cifar-10-batches-py",
                      tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch",
                      "batches.meta", "labels", "label_names")
CIFAR100 = CifarLayout("CIFAR-100", "cifar-100-python", ("train",), "test", "meta",
                       "fine_labels", "fine_label_names")


class _CifarUnpickler(pickle.Unpickler):
    """Builds the types CIFAR's pickles hold and nothing else (no code can run)."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("builtins", "bytes"),
                # Python 3's protocol-2 pickles of bytes (a re-pickled CIFAR batch).
                ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused {module}.{name}")


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        value = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # any malformed pickle: its own exception types vary
        raise DataError(f"{where} is not a CIFAR batch (cannot unpickle it: {e}). "
                        f"Received: {where}") from None
    if not isinstance(value, dict):
        raise DataError(f"{where} is not a CIFAR batch (a {type(value).__name__}, not a dict). "
                        f"Received: {where}")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in value.items()}


def _members(path: str, layout: CifarLayout) -> dict[str, bytes]:
    """The layout's files, from the tarball or the unpacked folder at ``path``."""
    wanted = [*layout.train, layout.test, layout.meta]
    if os.path.isdir(path):
        folder = path if os.path.exists(os.path.join(path, layout.test)) else \
            os.path.join(path, layout.folder)
        missing = [w for w in wanted if not os.path.isfile(os.path.join(folder, w))]
        if missing:
            raise DataError(f"{path} is not an unpacked {layout.name} python archive: no "
                            f"{layout.folder}/{missing[0]}. Received: {path}")
        out = {}
        for w in wanted:
            with open(os.path.join(folder, w), "rb") as f:
                out[w] = f.read()
        return out
    if not os.path.isfile(path):
        raise DataError(f"The {layout.name} archive {path} does not exist. Received: {path}")
    try:
        with tarfile.open(path) as tar:
            names = {m.name.lstrip("./"): m for m in tar.getmembers() if m.isfile()}
            missing = [w for w in wanted if f"{layout.folder}/{w}" not in names]
            if missing:
                found = ", ".join(sorted(names)[:3]) or "no files"
                raise DataError(f"{path} is not the {layout.name} python archive: no "
                                f"{layout.folder}/{missing[0]} in it (found: {found}). "
                                f"Received: {path}")
            return {w: tar.extractfile(names[f"{layout.folder}/{w}"]).read() for w in wanted}
    except tarfile.ReadError:
        raise DataError(f"{path} is not the {layout.name} python archive: not a tar archive "
                        f"(gzipped or not). Received: {path}") from None
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path} is not a readable {layout.name} tarball "
                        f"({type(e).__name__}: {e}). Received: {path}") from None


def _batch(raw: bytes, layout: CifarLayout, where: str) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(raw, where)
    data, labels = batch.get("data"), batch.get(layout.labels_key)
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"{where} is not a {layout.name} batch: it has no 'data' array and "
                        f"'{layout.labels_key}'. Received: keys {sorted(batch)}")
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 \
            or len(data) != len(labels):
        raise DataError(f"{where} is not a {layout.name} batch: 'data' is {data.dtype} "
                        f"{data.shape} for {len(labels)} labels, not uint8 (N, 3072). "
                        f"Received: {where}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_cifar(path, layout: CifarLayout):
    """``((x_train, y_train), (x_test, y_test), class_names, sha256)`` of a CIFAR archive."""
    path = os.fspath(path)
    members = _members(path, layout)
    parts = [_batch(members[name], layout, f"{path}:{name}") for name in layout.train]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = _batch(members[layout.test], layout, f"{path}:{layout.test}")
    meta = _unpickle(members[layout.meta], f"{path}:{layout.meta}")
    names = meta.get(layout.names_key)
    if not isinstance(names, list) or not names:
        raise DataError(f"{path}:{layout.meta} has no '{layout.names_key}'. "
                        f"Received: keys {sorted(meta)}")
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    digest = hashlib.sha256(b"".join(members[k] for k in sorted(members))).hexdigest()
    return (x_train, y_train), (x_test, y_test), names, digest


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_npz(path):
    """``((x_train, y_train), (x_test, y_test), class_names or None, sha256)`` of an ``.npz``
    with the four arrays (and, optionally, ``class_names``), read without pickles."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"The npz file {path} does not exist. Received: npz:{path}")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:4] != b"PK\x03\x04":
            raise DataError(f"{path} is not an npz file (not a zip archive of .npy arrays). "
                            f"Received: npz:{path}")
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            missing = [k for k in NPZ_KEYS if k not in npz.files]
            if missing:
                raise DataError(f"{path} lacks {', '.join(missing)}: an npz source holds "
                                f"{', '.join(NPZ_KEYS)}. Received: arrays {sorted(npz.files)}")
            arrays = {k: npz[k] for k in NPZ_KEYS}
            names = tuple(str(n) for n in npz["class_names"]) if "class_names" in npz.files \
                else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path} is not a readable npz file ({type(e).__name__}: {e}). "
                        f"Received: npz:{path}") from None
    digest = hashlib.sha256(raw).hexdigest()
    return ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"]),
            names, digest)
