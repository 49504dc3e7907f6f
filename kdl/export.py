"""SavedModel export in TF Serving's layout, written atomically, with its provenance.

``<export_dir>/<recipe>/<version>/``: numeric versions, the next free number each time,
an existing version never overwritten. The SavedModel is written to a hidden temporary
directory beside the versions and renamed into place only when complete, so a crash
never leaves a partial version for a server to load (TF Serving ignores non-numeric
names).

Signatures (Keras' own ``keras.export.ExportArchive``):

- ``serving_default``: raw ``uint8`` images ``[batch, H, W, C]`` (the char-RNN: a batch
  of seed strings); all preprocessing is inside. Returns ``probabilities``,
  ``class_ids`` (top-1) and ``top_k_class_ids``. An autoencoder returns
  ``reconstruction``.
- ``serving_float``: the same from ``float32`` pixels in [0, 255].

Beside the SavedModel, ``kdl.json`` holds the resolved recipe (``config``), the metrics,
the parameter count, TF/Keras/kdl versions, the hardware and the wall time.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import keras

from kdl._files import write_json
from kdl.errors import KdlError
from kdl.formats import write_checked
from kdl.platform import hardware, machine_line, tensorflow_available, versions
from kdl.tasks import get_task
from kdl.data.images import RESIZE

META_FILE = "kdl.json"
KERAS_FILE = "model.keras"  # the Keras model beside the SavedModel


class ExportNotFoundError(KdlError, ValueError):
    """No SavedModel where one was expected."""


class SavedModelNeedsTensorFlow(KdlError, RuntimeError):
    """An export asked for where TensorFlow is not installed."""


def _versions(base: str) -> list[int]:
    return sorted(int(d) for d in os.listdir(base) if d.isdigit()) if os.path.isdir(base) else []


def next_version(base: str) -> int:
    return max(_versions(base), default=0) + 1


def latest_version(path: str) -> str:
    """``path`` if it is a version (holds ``saved_model.pb``), else its highest numbered
    version that does; raises :class:`ExportNotFoundError` naming ``path``."""
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    for version in reversed(_versions(path)):
        candidate = os.path.join(path, str(version))
        if os.path.exists(os.path.join(candidate, "saved_model.pb")):
            return candidate
    raise ExportNotFoundError(f"No SavedModel (saved_model.pb) at {path} or in its numbered "
                              f"versions. Received: {path!r}")


def load_export(path: str):
    """(the loaded SavedModel, its ``kdl.json`` as a dict or {}, the version's path) for an
    export version or a recipe's export folder (its latest version)."""

    version = latest_version(path)
    meta_path = os.path.join(version, META_FILE)
    meta = {}
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    return quiet_load(version), meta, version


def quiet_load(path: str):
    """``tf.saved_model.load`` without absl's warning about the unsaved custom gradients of
    a JAX model's export (jax2tf's; serving needs no gradients)."""
    import absl.logging
    import tensorflow as tf

    level = absl.logging.get_verbosity()
    absl.logging.set_verbosity(absl.logging.ERROR)
    try:
        return tf.saved_model.load(path)
    finally:
        absl.logging.set_verbosity(level)


def build_archive(model: keras.Model, task: str, vocabulary=None, top_k: int = 5,
                  class_names=None):
    """An archive with ``task``'s two signatures for ``model`` and a ``write_out(path)``:
    ``keras.export.ExportArchive`` on TensorFlow; on JAX, Keras exports the model's forward
    pass (jax2tf) and :class:`_TFArchive` adds the same TensorFlow signatures; on PyTorch,
    :class:`_ViaTensorFlow` exports the model's ``.keras`` file from a TensorFlow process."""
    if keras.backend.backend() == "torch":
        return _ViaTensorFlow(model, task, vocabulary, top_k, class_names)
    if keras.backend.backend() != "tensorflow":
        return _TFArchive.around(model, task, vocabulary, top_k, class_names)
    archive = keras.export.ExportArchive()
    archive.track(model)
    get_task(task).add_endpoints(archive, model, vocabulary, top_k, class_names)
    return archive


class _ForwardPass:
    """What a task's endpoints use of a model (``model(x, training=False)``,
    ``model.input_shape``), served by a SavedModel of the model's forward pass."""

    def __init__(self, forward, input_shape):
        self.forward = forward
        self.input_shape = input_shape

    def __call__(self, x, training=False):
        return self.forward(x)


class _TFArchive:
    """``track``, ``add_endpoint`` and ``write_out`` as ``keras.export.ExportArchive``
    has them, in plain TensorFlow: the signatures of a model trained on another backend."""

    def __init__(self):
        import tensorflow as tf

        self.module = tf.Module()
        self.module._tracked = []
        self.signatures = {}

    @classmethod
    def around(cls, model: keras.Model, task: str, vocabulary, top_k: int, class_names=None):
        import tempfile


        dtype = get_task(task).input_dtype
        shape = [None] + list(model.input_shape[1:])
        inner = keras.export.ExportArchive()  # jax2tf (JAX) or torch export: Keras' own path
        inner.track(model)
        inner.add_endpoint("forward", lambda x: model(x, training=False),
                           input_signature=[keras.InputSpec(shape=shape, dtype=dtype)])
        archive = cls()
        archive._scratch = tempfile.mkdtemp(prefix="kdl-forward-")
        inner.write_out(archive._scratch, verbose=False)
        loaded = quiet_load(archive._scratch)
        archive.track(loaded)
        get_task(task).add_endpoints(archive, _ForwardPass(loaded.forward, model.input_shape),
                                     vocabulary, top_k, class_names)
        return archive

    def track(self, resource) -> None:
        self.module._tracked.append(resource)

    def add_endpoint(self, name: str, fn, input_signature) -> None:
        import tensorflow as tf

        function = tf.function(fn, input_signature=input_signature)
        setattr(self.module, name, function)
        self.signatures[name] = function

    def write_out(self, path: str, verbose: bool = False) -> None:
        import tensorflow as tf

        try:
            # Serving needs no gradients (and jax2tf's custom ones cannot be re-saved).
            tf.saved_model.save(self.module, path, signatures=self.signatures,
                                options=tf.saved_model.SaveOptions(
                                    experimental_custom_gradients=False))
        finally:
            shutil.rmtree(getattr(self, "_scratch", ""), ignore_errors=True)


class _ViaTensorFlow:
    """``write_out`` for a model trained on PyTorch: Keras' torch export needs torch_xla
    (pinned to another torch than kdl's), so the model goes through its backend-neutral
    ``.keras`` file to a TensorFlow-backend process, which writes the usual archive."""

    def __init__(self, model: keras.Model, task: str, vocabulary, top_k: int, class_names=None):
        self.model, self.task, self.vocabulary, self.top_k = model, task, vocabulary, top_k
        self.class_names = class_names

    def write_out(self, path: str, verbose: bool = False) -> None:
        import subprocess
        import sys
        import tempfile

        with tempfile.TemporaryDirectory(prefix="kdl-torch-export-") as scratch:
            model_path = os.path.join(scratch, "model.keras")
            self.model.save(model_path)
            args = {"model": model_path, "path": path, "task": self.task, "top_k": self.top_k,
                    "vocabulary": None if self.vocabulary is None else list(self.vocabulary),
                    "class_names": None if self.class_names is None else
                    [str(c) for c in self.class_names]}
            code = ("import json, sys; from kdl.export import _write_from_keras_file; "
                    "_write_from_keras_file(**json.loads(sys.argv[1]))")
            env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
            out = subprocess.run([sys.executable, "-c", code, json.dumps(args)], env=env,
                                 capture_output=True, text=True)
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"Exporting through TensorFlow failed: {last}")


def _write_from_keras_file(model: str, path: str, task: str, top_k: int, vocabulary,
                           class_names=None) -> None:
    """The TensorFlow side of :class:`_ViaTensorFlow` (run with KERAS_BACKEND=tensorflow)."""
    import kdl.layers  # noqa: F401  (registers kdl's serializable layers)
    import kdl.losses  # noqa: F401  (and losses, which a .keras file names even uncompiled)
    import kdl.models  # noqa: F401

    # The forward pass is all an export needs: no loss or optimizer to rebuild (a recipe's
    # loss, e.g. kdl's label smoothing, need not be importable here).
    loaded = keras.saving.load_model(model, safe_mode=True, compile=False)
    build_archive(loaded, task, vocabulary, top_k, class_names).write_out(path, verbose=False)


def _publish(tmp: str, base: str) -> str:
    """Rename the finished version ``tmp`` into the next free number under ``base``."""
    while True:  # never onto an existing version
        target = os.path.join(base, str(next_version(base)))
        try:
            # rename(2) refuses a non-empty target, so a version another process has
            # just renamed into place is never replaced: take the next number.
            os.rename(tmp, target)
            return target
        except OSError:
            if not os.path.isdir(tmp):
                raise


def export_saved_model(model: keras.Model, export_dir: str, name: str, *, task: str,
                       metadata: dict | None = None, vocabulary=None, provenance=None,
                       class_names=None, examples=None, formats=(), test=None) -> str:
    """Export ``model`` to ``export_dir/name/<next version>``; returns the version's path.

    ``provenance``: the run's record (:func:`kdl.platform.provenance`), written into ``kdl.json``
    as it is; without one, the versions and machine of this process. ``class_names``: the
    strings the signatures answer with. ``examples``: a few ``uint8`` test images; with
    them the version holds ``request.json`` (TF Serving's REST body for ``serving_bytes``)
    and ``expected.json`` (what this SavedModel answers to it). ``formats``: ``onnx``,
    ``litert`` beside it, each checked on ``test`` (:mod:`kdl.formats`)."""
    if not tensorflow_available():
        raise SavedModelNeedsTensorFlow(
            f"A SavedModel is written by TensorFlow, which is not installed here; the model's "
            f".keras file is what a run keeps, and `kdl export WORKDIR` writes the SavedModel "
            f"where TensorFlow is. Received: export of {name!r}")
    base = os.path.join(export_dir, name)
    os.makedirs(base, exist_ok=True)
    start = time.perf_counter()
    tmp = os.path.join(base, f".tmp-{os.getpid()}-{int(time.time() * 1e6)}")
    try:
        archive = build_archive(model, task, vocabulary, class_names=class_names)
        archive.write_out(tmp, verbose=False)
        # The Keras model beside the SavedModel (TF Serving reads only its own files): a
        # fine-tuning run starts from it (init_from=VERSION), by layer name.
        model.save(os.path.join(tmp, KERAS_FILE))
        if provenance is None:
            hw = hardware()
            provenance = {"versions": versions(), "hardware": hw, "machine": machine_line(hw)}
        meta = {
            **(metadata or {}),
            **provenance,
            "params": int(model.count_params()),
            "signatures": list(get_task(task).signatures),
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if "serving_bytes" in meta["signatures"]:
            meta["serving_bytes"] = {"size": list(model.input_shape[1:3]),
                                     "channels": int(model.input_shape[-1]), **RESIZE}
        if vocabulary is not None:
            meta["vocabulary"] = list(vocabulary)
        if examples is not None and "serving_bytes" in meta["signatures"]:
            write_request(tmp, examples)
        if formats:
            meta["formats"] = write_checked(model, tmp, formats, test)
        meta["export_s"] = round(time.perf_counter() - start, 3)
        write_json(os.path.join(tmp, META_FILE), meta, default=str)
        return _publish(tmp, base)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


REQUEST_FILE, EXPECTED_FILE = "request.json", "expected.json"
# serve-check's tolerance on every float a signature answers (probabilities, reconstructions):
# the three signatures differ only in how the same pixels arrive.
TOLERANCE = 1e-4


def _answer(outputs) -> list[dict]:
    """A signature's outputs as TF Serving's REST "predictions" rows."""
    import numpy as np

    columns = {k: v.numpy() for k, v in outputs.items()}
    rows = []
    for i in range(len(next(iter(columns.values())))):
        row = {}
        for k, v in sorted(columns.items()):
            x = v[i]
            row[k] = (x.decode() if isinstance(x, bytes) else
                      [t.decode() for t in x] if getattr(x, "dtype", None) is np.dtype(object) else
                      np.asarray(x).tolist())
        rows.append(row)
    return rows


def write_request(version: str, examples) -> None:
    """``request.json`` (PNGs, base64, for ``serving_bytes``) and ``expected.json`` (the
    SavedModel in ``version`` on them) into ``version``."""
    import base64

    import tensorflow as tf

    encoded = [tf.io.encode_png(tf.constant(x)).numpy() for x in examples]
    request = {"signature_name": "serving_bytes",
               "instances": [{"b64": base64.b64encode(b).decode()} for b in encoded]}
    loaded = quiet_load(version)
    answer = _answer(loaded.signatures["serving_bytes"](images=tf.constant(encoded)))
    write_json(os.path.join(version, REQUEST_FILE), request)
    write_json(os.path.join(version, EXPECTED_FILE),
               {"predictions": answer, "tolerance": TOLERANCE,
                "note": "what this version answers to request.json on every image signature"})


def no_saved_model_note(workdir: str) -> str | None:
    """Where TensorFlow is not installed, the line that says a run's export waits for it;
    None where it is."""
    if tensorflow_available():
        return None
    return (f"kdl: no SavedModel: it needs TensorFlow, not installed here; the model is "
            f"{os.path.join(workdir, KERAS_FILE)} (`kdl export` writes it where TensorFlow is)")


def export_run(model: keras.Model, recipe, export_dir: str, summary: dict, data,
               provenance: dict | None = None, formats=()) -> str:
    """Export a trained recipe's model with its provenance (``summary``: the run's
    measurements; ``data``: its :class:`kdl.tasks.DataBundle`; ``provenance``: the run's
    record, whose ``config`` is the recipe as it ran). Returns the version's path."""
    extra = get_task(recipe.task).export_metadata(data)
    meta = {**summary, "recipe": recipe.name, "config": recipe.to_dict(),
            "class_names": extra["class_names"]}
    examples = None
    if "serving_bytes" in get_task(recipe.task).signatures:
        examples = _first_test_images(data, 3)
        meta["input_stats"] = input_stats(data)
    return export_saved_model(model, export_dir, recipe.name, task=recipe.task, metadata=meta,
                              vocabulary=data.vocabulary if "vocabulary" in extra else None,
                              provenance=provenance, class_names=extra.get("class_names"),
                              examples=examples, formats=formats, test=data.test)


def _first_test_images(data, n: int):
    import numpy as np

    for x, _ in data.test:  # a tf.data pipeline or kdl.data.ArrayFeed: their first batch
        return np.asarray(x[:n]).astype("uint8")
    return None


def input_stats(data, limit: int = 4096) -> dict:
    """The training images' border (the outermost ring of pixels): its mean per image, as
    mean and std over up to ``limit`` images. `kdl predict` notes an image whose border is
    far from it (a light background where the data is light-on-dark): the model cannot."""
    import itertools

    import numpy as np

    if data.train_arrays is not None:
        x = np.asarray(data.train_arrays[0][:limit], dtype="float32")
    else:
        x = np.concatenate([np.asarray(b[0], dtype="float32")
                            for b in itertools.islice(data.test, 8)])
    per_image = border_means(x)
    return {"border_mean": round(float(per_image.mean()), 2),
            "border_std": round(float(per_image.std()), 2), "images": int(len(x))}


def border_means(images):
    """Each image's mean over its outermost ring of pixels (images: [N, H, W, C])."""
    import numpy as np

    x = np.asarray(images, dtype="float32")
    ring = np.concatenate([x[:, 0].reshape(len(x), -1), x[:, -1].reshape(len(x), -1),
                           x[:, 1:-1, 0].reshape(len(x), -1), x[:, 1:-1, -1].reshape(len(x), -1)],
                          axis=1)
    return ring.mean(1)


def serving_input(loaded, signature: str = "serving_default"):
    """The ``tf.TensorSpec`` a loaded export's ``signature`` takes (its one input)."""
    if signature not in loaded.signatures:
        raise ExportNotFoundError(f"This export has no signature {signature!r}; it has "
                                  f"{', '.join(sorted(loaded.signatures))}. "
                                  f"Received: signature={signature!r}")
    return list(loaded.signatures[signature].structured_input_signature[1].values())[0]
