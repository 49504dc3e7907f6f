"""Serving what clients send: the checks and answers of an export's image signatures.

- :func:`serve_check`: the export's ``request.json`` through every image signature,
  compared with its ``expected.json`` (what ``kdl serve-check`` runs): the check a user
  would otherwise make with ``saved_model_cli`` and a hand-built curl.
- :func:`predict_images`: any image files (any size and colour mode; files, folders,
  globs) through ``serving_bytes``, the signature a TF Serving client uses, so that
  ``kdl predict`` and the server agree; with a note for an image whose border is far from
  the training images' (:func:`kdl.export.input_stats`).
"""

from __future__ import annotations

import glob
import json
import os

from kdl.errors import KdlError
from kdl.export import (EXPECTED_FILE, REQUEST_FILE, TOLERANCE, _answer, border_means,
                        load_export, serving_input)


class ServeCheckError(KdlError, ValueError):
    """An export whose signatures do not answer its request.json as expected.json says."""


def _is_float(value) -> bool:
    import numpy as np

    flat = np.ravel(np.asarray(value, dtype=object))
    return bool(len(flat)) and isinstance(flat[0], float)


def _compare(signature: str, got: list[dict], expected: list[dict], tolerance: float) -> float:
    """The largest float difference; raises :class:`ServeCheckError` on any mismatch."""
    import numpy as np

    worst = 0.0
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        for key, want in e.items():
            if key not in g:
                raise ServeCheckError(f"{signature} does not answer {key!r}. Received: "
                                      f"instance {i}")
            have = g[key]
            if _is_float(want):
                try:
                    diff = float(np.max(np.abs(np.asarray(have, float) - np.asarray(want, float))))
                except ValueError:
                    diff = float("inf")  # shapes differ
                worst = max(worst, diff)
                if not diff <= tolerance:
                    raise ServeCheckError(
                        f"{signature} answers {key} of instance {i} {diff:.3g} away from "
                        f"expected.json (tolerance {tolerance:g}). Received: {signature}")
            elif have != want:
                raise ServeCheckError(f"{signature} answers {key}={have!r} for instance {i}; "
                                      f"expected.json says {want!r}. Received: {signature}")
    return worst


def serve_check(path: str) -> dict:
    """Load the SavedModel at ``path`` (a version or a recipe's folder: its latest), send
    ``request.json`` through every image signature (the bytes as they are; the decoded
    pixels as ``uint8`` and ``float32``) and compare each answer with ``expected.json``.
    Returns what was checked; raises :class:`ServeCheckError`."""
    import base64

    import tensorflow as tf

    from kdl.data.images import decode_images

    loaded, _, version = load_export(path)
    files = {}
    for name in (REQUEST_FILE, EXPECTED_FILE):
        try:
            with open(os.path.join(version, name)) as f:
                files[name] = json.load(f)
        except FileNotFoundError:
            raise ServeCheckError(f"{version} has no {name} (exported before kdl wrote one, "
                                  f"or not an image model). Received: {path!r}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ServeCheckError(f"{os.path.join(version, name)} is not JSON: {e}. "
                                  f"Received: {path!r}") from None
    request, expected = files[REQUEST_FILE], files[EXPECTED_FILE]
    try:
        encoded = [base64.b64decode(item["b64"]) for item in request["instances"]]
        want, tolerance = expected["predictions"], float(expected.get("tolerance", TOLERANCE))
    except (KeyError, TypeError, ValueError) as e:
        raise ServeCheckError(f"request.json or expected.json of {version} is not what kdl "
                              f"writes ({type(e).__name__}: {e}). Received: {path!r}") from None
    if len(want) != len(encoded):
        raise ServeCheckError(f"expected.json has {len(want)} answers for {len(encoded)} "
                              f"instances. Received: {path!r}")
    shape = serving_input(loaded).shape[1:]
    try:
        pixels = decode_images(tf.constant(encoded), shape)
    except tf.errors.InvalidArgumentError as e:
        raise ServeCheckError(f"request.json of {version} holds an image that does not "
                              f"decode: {e.message.splitlines()[0]}. Received: {path!r}") from None
    inputs = {"serving_bytes": tf.constant(encoded),
              "serving_default": tf.cast(tf.round(pixels), tf.uint8),
              "serving_float": pixels}
    checked = {}
    for signature, x in inputs.items():
        if signature in loaded.signatures:
            got = _answer(loaded.signatures[signature](images=x))
            checked[signature] = _compare(signature, got, want, tolerance)
    return {"export": version, "instances": len(encoded), "tolerance": tolerance,
            "max_abs_diff": checked}


class PredictInputError(KdlError, ValueError):
    """Files `kdl predict` cannot take: missing, not images, an empty folder."""


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".npy")
# An image's border this many training standard deviations from the training images'
# border mean gets a note (Fashion-MNIST: mean 12, std 9 of 255 over 2,048 training images).
BORDER_SIGMAS = 6.0


def image_files(inputs: list[str]) -> list[str]:
    """Every image named by ``inputs``: files, folders (their images, sorted, not
    recursive) and globs. Raises :class:`PredictInputError` naming what was received."""
    files = []
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(os.path.join(item, n) for n in os.listdir(item)
                           if n.lower().endswith(IMAGE_SUFFIXES))
            if not found:
                raise PredictInputError(f"No images ({', '.join(IMAGE_SUFFIXES)}) in folder "
                                        f"{item}. Received: {item!r}")
            files += found
        elif os.path.exists(item):
            files.append(item)
        elif glob.has_magic(item):
            found = sorted(p for p in glob.glob(item) if os.path.isfile(p))
            if not found:
                raise PredictInputError(f"No file matches {item}. Received: {item!r}")
            files += found
        else:
            raise PredictInputError(f"No such file or folder. Received: {item!r}")
    return files


def _encoded(path: str, shape) -> bytes:
    """The file's bytes if TensorFlow decodes them as an image (a ``.npy`` array of exactly
    the model's input shape: as a PNG); else a one-line error."""
    import numpy as np
    import tensorflow as tf

    if path.lower().endswith(".npy"):
        try:
            array = np.load(path)
        except (OSError, ValueError) as e:
            raise PredictInputError(f"{path} is not a NumPy array file ({e}). "
                                    f"Received: {path!r}") from None
        if array.ndim == len(shape) - 1:
            array = array[..., None]
        if tuple(array.shape) != tuple(shape) or array.dtype.kind not in "uif" \
                or array.min() < 0 or array.max() > 255:
            raise PredictInputError(
                f"{path} holds pixels of shape {tuple(array.shape)} in [{array.min()}, "
                f"{array.max()}]; this model takes {tuple(shape)} in [0, 255] (photos of any "
                f"size: pass the image file). Received: {path!r}")
        return tf.io.encode_png(tf.constant(array.astype("uint8"))).numpy()
    with open(path, "rb") as f:
        data = f.read()
    try:
        tf.io.decode_image(data, expand_animations=False)
    except (tf.errors.InvalidArgumentError, ValueError):
        raise PredictInputError(f"{path} is not an image TensorFlow decodes (PNG, JPEG, "
                                f"BMP, GIF) nor a .npy array. Received: {path!r}") from None
    return data


def border_note(path: str, pixels, stats: dict | None) -> str | None:
    """A one-line note when ``pixels`` (the image as the model sees it) has a border far
    from the training images' (``kdl.json``'s ``input_stats``); the prediction is not
    changed: the model cannot tell, so the user is told."""
    if not stats or not stats.get("border_std"):
        return None
    mean = float(border_means(pixels[None])[0])
    sigma = (mean - stats["border_mean"]) / max(stats["border_std"], 1.0)
    if abs(sigma) < BORDER_SIGMAS:
        return None
    tone = "lighter" if sigma > 0 else "darker"
    usual = "light on a dark" if stats["border_mean"] < 128 else "dark on a light"
    return (f"note: {path}: its border is much {tone} (mean {mean:.0f} of 255) than the "
            f"training images' ({stats['border_mean']:.0f} ± {stats['border_std']:.0f}: "
            f"{usual} background); the model was not trained on such images, so its answer "
            f"may be wrong (inverted?)")


def predict_images(export: str, inputs: list[str], top_k: int = 3,
                   signature: str = "serving_bytes", loaded_export=None):
    """Classify the images ``inputs`` names with the export at ``export`` through
    ``signature`` (``serving_bytes``: the file's bytes as a client sends them). Returns
    (rows, notes): one dict per image (file, class id and name, probability, top k),
    and the notes for images unlike the training data."""
    import tensorflow as tf

    from kdl.data.images import decode_images

    # ``loaded_export``: what :func:`kdl.export.load_export` returned, if already loaded.
    loaded, meta, version = loaded_export or load_export(export)
    spec = serving_input(loaded, signature)  # raises for a signature the export lacks
    files = image_files(inputs)
    size = meta.get("serving_bytes", {}).get("size") or list(spec.shape[1:3])
    channels = meta.get("serving_bytes", {}).get("channels") or spec.shape[-1]
    shape = (*size, channels)
    encoded = [_encoded(f, shape) for f in files]
    pixels = decode_images(tf.constant(encoded), shape)
    inputs_for = {"serving_bytes": lambda: tf.constant(encoded),
                  "serving_float": lambda: pixels,
                  "serving_default": lambda: tf.cast(tf.round(pixels), tf.uint8)}
    if signature not in inputs_for or spec.dtype not in (tf.string, tf.float32, tf.uint8):
        raise PredictInputError(f"kdl predict sends images to serving_bytes, serving_default "
                                f"or serving_float. Received: signature={signature!r}")
    out = loaded.signatures[signature](images=inputs_for[signature]())
    if "probabilities" not in out:
        raise PredictInputError(f"{version} is not a classifier (it answers "
                                f"{', '.join(sorted(out))}). Received: {export!r}")
    rows = _rows(files, out["probabilities"].numpy(), meta.get("class_names"), top_k)
    pixels = pixels.numpy()
    notes = [n for f, x in zip(files, pixels, strict=True)
             if (n := border_note(f, x, meta.get("input_stats")))]
    return rows, notes


def _rows(files, probabilities, names, top_k: int) -> list[dict]:
    import numpy as np

    rows = []
    for f, p in zip(files, probabilities, strict=True):
        order = np.argsort(-p)[:top_k]
        rows.append({"file": f, "class_id": int(order[0]),
                     "class_name": names[order[0]] if names else str(order[0]),
                     "probability": round(float(p[order[0]]), 4),
                     "top_k": [{"class_id": int(i), "class_name": names[i] if names else str(i),
                                "probability": round(float(p[i]), 4)} for i in order]})
    return rows


def predict_with_card(card: str, inputs: list[str], top_k: int = 3):
    """:func:`predict_images` with the weights card ``card`` ships, no export needed: the
    files decoded as ``serving_bytes`` decodes them, the model as the card measured it
    (test-time flip included). Returns (rows, notes)."""
    import tensorflow as tf

    from kdl.card_store import card_weights
    from kdl.data.images import decode_images
    from kdl.models import get_model

    found, entry, _ = card_weights(card)
    if not entry.get("class_names"):
        raise PredictInputError(f"The card {card} is not a classifier's. Received: --card {card}")
    model = get_model(found["config"]["model"], weights=f"card:{card}")
    if entry.get("test_time_flip"):
        from kdl.layers import with_test_time_flip

        model = with_test_time_flip(model)
    files = image_files(inputs)
    shape = tuple(entry["input_shape"])
    pixels = decode_images(tf.constant([_encoded(f, shape) for f in files]), shape)
    probabilities = _predict(model, pixels)
    rows = _rows(files, probabilities, entry["class_names"], top_k)
    notes = [n for f, x in zip(files, pixels.numpy(), strict=True)
             if (n := border_note(f, x, entry.get("input_stats")))]
    return rows, notes


def _predict(model, pixels):
    import numpy as np

    return np.asarray(model.predict(pixels, verbose=0, batch_size=256))
