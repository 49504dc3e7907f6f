"""A folder of a user's own images, in Keras' ``image_dataset_from_directory`` layout.

``PATH/train/<class>/*`` and ``PATH/test/<class>/*``; or ``PATH/<class>/*``, from which a
seeded, per-class tenth is held out as test. Files are PNG, JPEG, BMP or GIF of any size,
grey or colour; other files are left out, as Keras leaves them out.

Only file names are held in memory. Images are read and decoded inside tf.data when a
batch needs them (:func:`kdl.data.images.decode_image`, the one decoder serving uses too),
so memory is bounded by the pipeline's few batches in flight, not by the folder's size.

Everything is checked before a run writes anything: the folder is listed, and every file is
decoded once in parallel (its size and channels kept). Undecodable or truncated files, a
class with fewer than 2 images, a test class that train lacks, an empty folder: one
:class:`kdl.errors.DataError` line naming what was found. Mixed sizes and colour modes are
warnings (:class:`kdl.errors.DataWarning`): every image is resized and converted to one shape.

Keras' own ``image_dataset_from_directory`` is not called: it cannot carve a held-out split
per class or hand back which files went where, and kdl's provenance keeps both (the
fingerprint: a digest of each split's sorted file list, with the seed and the sizes).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import warnings

import numpy as np

from kdl.data.dataset import ImageDataset, check_fraction
from kdl.data.images import IMAGE_EXTENSIONS, decode_image
from kdl.errors import DataError, DataWarning

# The share of each class held out as test when the folder has no train/test folders, by a
# fixed seed: every seed of a recipe is measured on the same test images.
TEST_FRACTION = 0.1
TEST_SEED = 0


@dataclasses.dataclass(frozen=True)
class FolderIndex:
    """What a folder holds: class names, and each split's files and labels (train and test;
    the validation carve is the caller's), with what the check found."""

    root: str
    class_names: tuple[str, ...]
    splits: dict  # split -> (tuple of paths, int64 labels)
    sizes: tuple  # distinct (height, width) found
    channels: tuple  # distinct channel counts found (1, 2, 3, 4)
    layout: str  # "train/test" or "classes"


def _list_classes(root: str) -> list[str]:
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as e:
        raise DataError(f"Cannot read the folder {root}: {e.strerror}. Received: folder:{root}") from None
    return [e.name for e in entries if e.is_dir() and not e.name.startswith(".")]


def _list_files(root: str, classes, class_ids) -> tuple[list[str], list[int]]:
    paths, labels = [], []
    for name in classes:
        folder = os.path.join(root, name)
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            dirnames.sort()
            for fname in sorted(filenames):
                if fname.lower().endswith(IMAGE_EXTENSIONS) and not fname.startswith("."):
                    paths.append(os.path.join(dirpath, fname))
                    labels.append(class_ids[name])
    return paths, labels


def _decode_all(paths: list[str]) -> tuple[list[int], np.ndarray]:
    """Each file decoded once, in parallel: the indices of those that failed, and each
    file's (height, width, channels) (zeros where it failed)."""
    import tensorflow as tf

    def shape_of(i, path):
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        return i, tf.shape(image, out_type=tf.int64)

    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), list(paths)))
    ds = ds.map(shape_of, num_parallel_calls=os.cpu_count() or 1, deterministic=False)
    ds = ds.ignore_errors(log_warning=False).batch(4096)
    shapes = np.zeros((len(paths), 3), dtype=np.int64)
    seen = np.zeros(len(paths), dtype=bool)
    for idx, shape in ds.as_numpy_iterator():
        shapes[idx], seen[idx] = shape, True
    return np.flatnonzero(~seen).tolist(), shapes


def _stratified_carve(labels: np.ndarray, fraction: float, seed: int):
    """Indices (kept, held out): per class, a seeded ``fraction`` (at least one image of a
    class of 2 or more, never all of them) held out."""
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = int(round(len(members) * fraction))
        if fraction > 0 and len(members) >= 2:
            n = min(max(n, 1), len(members) - 1)
        held.extend(rng.permutation(members)[:n].tolist())
    held = np.sort(np.asarray(held, dtype=np.int64))
    kept = np.setdiff1d(np.arange(len(labels)), held)
    return kept, held


def _listing_key(root: str) -> tuple:
    """What the cache of :func:`index_folder` keys on: every candidate file's path, size
    and modification time, so a changed folder is checked again."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for fname in sorted(filenames):
            path = os.path.join(dirpath, fname)
            try:
                st = os.stat(path)
            except OSError:
                continue
            out.append((path, st.st_size, st.st_mtime_ns))
    return tuple(out)


def index_folder(path) -> FolderIndex:
    """List and check the folder at ``path`` (see the module docstring); raises
    :class:`kdl.errors.DataError` naming what was found, warns (:class:`kdl.errors.DataWarning`) on
    mixed sizes or colour modes. Cached while the folder is unchanged."""
    root = os.path.abspath(os.fspath(path))
    if not os.path.isdir(root):
        what = "is not a folder" if os.path.exists(root) else "does not exist"
        raise DataError(f"The image folder {path} {what}. Received: folder:{path}")
    index = _index_folder(root, _listing_key(root))
    if len(index.sizes) > 1:
        sizes = ", ".join(f"{h}x{w}" for h, w in index.sizes[:3])
        warnings.warn(DataWarning(
            f"images under {path} differ in size ({len(index.sizes)} sizes, e.g. {sizes}): "
            f"each is resized to the model's input"), stacklevel=2)
    if len(index.channels) > 1:
        modes = ", ".join({1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}.get(c, str(c))
                          for c in index.channels)
        warnings.warn(DataWarning(
            f"images under {path} mix colour modes ({modes}): each is converted to the "
            f"model's channels"), stacklevel=2)
    return index


@functools.lru_cache(maxsize=4)
def _index_folder(root: str, _listing: tuple) -> FolderIndex:
    train_dir, test_dir = os.path.join(root, "train"), os.path.join(root, "test")
    split_layout = os.path.isdir(train_dir) and os.path.isdir(test_dir)
    trees = {"train": train_dir, "test": test_dir} if split_layout else {"all": root}
    classes = _list_classes(trees["train" if split_layout else "all"])
    if not classes:
        raise DataError(f"No class folders in {trees.get('train', root)}: kdl reads "
                        f"PATH/<class>/* or PATH/train/<class>/* with PATH/test/<class>/*. "
                        f"Received: folder:{root}")
    class_ids = {name: i for i, name in enumerate(classes)}
    if split_layout:
        missing = [c for c in _list_classes(test_dir) if c not in class_ids]
        if missing:
            raise DataError(f"{len(missing)} test class(es) that train lacks, first: "
                            f"{os.path.join(test_dir, missing[0])}. Received: folder:{root}")
    listed = {split: _list_files(tree, classes, class_ids) for split, tree in trees.items()}
    all_paths = [p for paths, _ in listed.values() for p in paths]
    if not all_paths:
        raise DataError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) in the class folders of "
                        f"{root}. Received: folder:{root}")
    failed, shapes = _decode_all(all_paths)
    if failed:
        raise DataError(f"{len(failed)} file(s) could not be decoded, first: "
                        f"{all_paths[failed[0]]}. Received: folder:{root}")
    train_labels = np.asarray(listed["train" if split_layout else "all"][1], dtype=np.int64)
    counts = np.bincount(train_labels, minlength=len(classes))
    few = [classes[i] for i in np.flatnonzero(counts < 2)]
    if few:
        tree = trees["train" if split_layout else "all"]
        raise DataError(f"{len(few)} class(es) with fewer than 2 images, first: "
                        f"{os.path.join(tree, few[0])} (images: {counts[class_ids[few[0]]]}). "
                        f"Received: folder:{root}")
    if split_layout:
        splits = {s: (tuple(p), np.asarray(y, dtype=np.int64)) for s, (p, y) in listed.items()}
    else:
        paths, labels = listed["all"]
        kept, held = _stratified_carve(np.asarray(labels), TEST_FRACTION, TEST_SEED)
        splits = {"train": (tuple(paths[i] for i in kept), np.asarray(labels)[kept]),
                  "test": (tuple(paths[i] for i in held), np.asarray(labels)[held])}
    return FolderIndex(root=root, class_names=tuple(classes), splits=splits,
                       sizes=tuple(sorted({(int(h), int(w)) for h, w, _ in shapes})),
                       channels=tuple(sorted({int(c) for c in shapes[:, 2]})),
                       layout="train/test" if split_layout else "classes")


def split_digest(root: str, paths) -> str:
    """SHA-256 of a split's sorted file list (paths relative to the folder)."""
    names = sorted(os.path.relpath(p, root) for p in paths)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def default_channels(index: FolderIndex) -> int:
    """1 where every image is grey, else 3."""
    return 1 if set(index.channels) <= {1, 2} else 3


def load_folder(path, *, validation_fraction: float, seed: int, image_shape=None):
    """The folder at ``path`` as an :class:`kdl.data.ImageDataset` whose splits are lists of
    files decoded lazily to ``image_shape`` (H, W, C). Without ``image_shape``: the images'
    one size (several sizes need it) and 1 channel where all are grey, else 3."""
    check_fraction(validation_fraction)
    index = index_folder(path)
    if image_shape is None or image_shape[0] is None:
        if len(index.sizes) > 1:
            raise DataError(f"Images under {path} differ in size ({len(index.sizes)} sizes): "
                            f"set image_size. Received: image_size=None")
        image_shape = (*index.sizes[0], default_channels(index))
    image_shape = tuple(int(d) for d in image_shape)
    train_paths, train_labels = index.splits["train"]
    kept, held = _stratified_carve(train_labels, validation_fraction, seed)
    # A seeded order of train, so that a prefix (max_train_examples) holds every class.
    kept = kept[np.random.default_rng(seed + 2).permutation(len(kept))]
    files = {"train": ([train_paths[i] for i in kept], train_labels[kept]),
             "validation": ([train_paths[i] for i in held], train_labels[held])}
    test_paths, test_labels = index.splits["test"]
    order = np.random.default_rng(seed + 3).permutation(len(test_paths))
    files["test"] = ([test_paths[i] for i in order], test_labels[order])
    fingerprint = {
        "source": f"folder:{index.root}", "layout": index.layout, "seed": seed,
        "split_sizes": {k: len(v[1]) for k, v in files.items()},
        "split_digests": {k: split_digest(index.root, v[0]) for k, v in files.items()},
    }
    # The data itself, whatever the seed's validation carve: what --add-seeds compares.
    fingerprint["digest"] = hashlib.sha256((
        split_digest(index.root, train_paths) + split_digest(index.root, test_paths)).encode()
    ).hexdigest()
    return ImageDataset.from_files(
        name=os.path.basename(index.root.rstrip(os.sep)) or "folder", files=files,
        decode=functools.partial(_decode_file, image_shape=image_shape),
        class_names=index.class_names, image_shape=image_shape, source=f"folder:{index.root}",
        fingerprint=fingerprint)


def _decode_file(path, label, *, image_shape):
    import tensorflow as tf

    return decode_image(tf.io.read_file(path), image_shape), label
