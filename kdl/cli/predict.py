"""``kdl predict EXPORT FILES``: classify images (or continue texts) with an export."""

from __future__ import annotations

import json
import os

from kdl.cli.common import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="classify images (png, jpg, npy) with an export")
    p.add_argument("export_dir", help="a version directory, or the recipe's (latest version)")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=run)


def _read_image(path: str):
    import numpy as np

    if not os.path.exists(path):
        raise UsageError(f"No such file. Received: {path!r}")
    if path.lower().endswith(".npy"):
        return np.load(path)
    if path.lower().endswith((".png", ".jpg", ".jpeg", ".bmp")):
        from PIL import Image

        return np.asarray(Image.open(path))
    raise UsageError(f"predict reads .png, .jpg or .npy files. Received: {path!r}")


def run(args) -> int:
    import numpy as np
    import tensorflow as tf

    from kdl.export import ExportNotFoundError, load_export, serving_input

    try:
        loaded, meta, _ = load_export(args.export_dir)
        spec = serving_input(loaded)
    except ExportNotFoundError as e:
        raise UsageError(str(e)) from None
    serve = loaded.signatures["serving_default"]
    if spec.dtype == tf.string:
        texts = [open(f).read() if os.path.exists(f) else f for f in args.files]
        out = serve(tf.constant(texts))
        vocab = meta.get("vocabulary")
        for t, ids in zip(args.files, out["top_k_class_ids"].numpy(), strict=True):
            print(json.dumps({"input": t, "next_chars": [vocab[i] for i in ids] if vocab else
                              ids.tolist()}))
        return 0
    expected = tuple(spec.shape[1:])
    images = []
    for f in args.files:
        a = _read_image(f)
        if a.ndim == len(expected) - 1 and expected[-1] == 1:
            a = a[..., None]
        if tuple(a.shape) != expected:
            raise UsageError(f"{f} has shape {tuple(a.shape)}; this model takes {expected}. "
                             f"Received: {f!r}")
        if a.dtype != np.uint8:
            if a.min() < 0 or a.max() > 255:
                raise UsageError(f"{f} has values outside [0, 255]. Received: {f!r}")
            a = a.astype(np.uint8)
        images.append(a)
    out = serve(tf.constant(np.stack(images)))
    names = meta.get("class_names")
    for f, probs, cid in zip(args.files, out["probabilities"].numpy(), out["class_ids"].numpy(),
                             strict=True):
        row = {"file": f, "class_id": int(cid), "probability": float(probs[cid])}
        if names:
            row["class_name"] = names[int(cid)]
        print(json.dumps(row))
    return 0
