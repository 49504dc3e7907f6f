"""``kdl predict EXPORT INPUTS``: classify images (any size or colour mode; files, folders,
globs) with an export, through the signature a TF Serving client uses; or continue texts
with a char-RNN's export."""

from __future__ import annotations

import json
import os
import sys

from kdl.cli.common import positive, print_json, print_table


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="classify images (png, jpg, bmp, gif; files, folders, "
                                       "globs) with an export, or continue texts")
    p.add_argument("items", nargs="+", metavar="EXPORT INPUT",
                   help="an export (a version directory, or the recipe's: its latest version), "
                        "then image files, folders of images, globs (for a char-RNN, texts); "
                        "with --card, the inputs alone")
    p.add_argument("--card", metavar="NAME",
                   help="classify with the weights card NAME ships (see `kdl weights`): no "
                        "export, no training")
    p.add_argument("--top-k", type=positive("--top-k"), default=3)
    p.add_argument("--signature", default="serving_bytes",
                   help="serving_bytes (encoded files, as a client sends them), "
                        "serving_default (uint8 pixels) or serving_float")
    p.add_argument("--json", action="store_true", help="one JSON line per input")
    p.set_defaults(func=run)


def _continue_texts(loaded, meta, inputs) -> int:
    import tensorflow as tf

    texts = [open(f).read() if os.path.isfile(f) else f for f in inputs]
    out = loaded.signatures["serving_default"](tf.constant(texts))
    vocab = meta.get("vocabulary")
    for t, ids in zip(inputs, out["top_k_class_ids"].numpy(), strict=True):
        print(json.dumps({"input": t, "next_chars": [vocab[i] for i in ids] if vocab else
                          ids.tolist()}))
    return 0


def run(args) -> int:
    import tensorflow as tf

    from kdl.cli.common import UsageError
    from kdl.export import load_export, serving_input
    from kdl.serving import predict_images, predict_with_card

    if args.card:
        rows, notes = predict_with_card(args.card, args.items, top_k=args.top_k)
        return _print(args, rows, notes)
    if len(args.items) < 2:
        raise UsageError(f"kdl predict needs an export and at least one input (or --card NAME "
                         f"and inputs). Received: {' '.join(args.items)}")
    export_dir, inputs = args.items[0], args.items[1:]
    export = load_export(export_dir)
    loaded, meta, _ = export
    if serving_input(loaded).dtype == tf.string and "serving_bytes" not in loaded.signatures:
        return _continue_texts(loaded, meta, inputs)
    rows, notes = predict_images(export_dir, inputs, top_k=args.top_k,
                                 signature=args.signature, loaded_export=export)
    return _print(args, rows, notes)


def _print(args, rows, notes) -> int:
    for note in notes:
        print(note, file=sys.stderr)
    if args.json:
        for row in rows:
            print_json(row)
    else:
        print_table([{"file": r["file"], "class": r["class_name"],
                      "probability": f"{r['probability']:.3f}",
                      "next": ", ".join(f"{t['class_name']} {t['probability']:.2f}"
                                        for t in r["top_k"][1:])} for r in rows])
    return 0
