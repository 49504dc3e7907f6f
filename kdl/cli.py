"""The ``kdl`` command: list, train, evaluate, export, predict, tune, cards.

Bad input (an unknown recipe, a wrong ``--set``, epochs <= 0, data that cannot be
found, an image of the wrong shape) is one line on stderr and exit status 2, before
anything is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import kdl  # noqa: F401  (sets KERAS_BACKEND before TensorFlow loads)


class UsageError(Exception):
    """Bad input from the command line: one line, exit status 2."""


def _positive(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a positive integer. Received: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer. Received: {value}")
        return value

    return parse


def _resolve_recipe(args):
    from kdl.recipes import apply_overrides, get_recipe
    from kdl.training import check_recipe

    try:
        recipe = get_recipe(args.recipe)
        if getattr(args, "smoke", False):
            recipe = recipe.smoke()
        recipe = apply_overrides(recipe, args.set or [])
        changes = {}
        if getattr(args, "epochs", None) is not None:
            changes["epochs"] = args.epochs
        if getattr(args, "batch_size", None) is not None:
            changes["batch_size"] = args.batch_size
        if getattr(args, "precision", None):
            changes["precision"] = args.precision
        recipe = recipe.replace(**changes) if changes else recipe
        check_recipe(recipe)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return recipe


def _workdir(args, recipe) -> str:
    return args.workdir or os.path.join("runs", recipe.name)


def _strategy(args):
    from kdl.distribute import StrategyError, get_strategy

    try:
        return get_strategy(getattr(args, "strategy", "auto") or "auto")
    except StrategyError as e:
        raise UsageError(str(e)) from None


def _check_data(recipe):
    """Fail fast, with how to get it, when the recipe's data cannot be had."""
    from kdl.data import DataNotFoundError

    if recipe.task == "char_rnn":
        return
    from kdl.data.sources import load_image_dataset

    try:
        return load_image_dataset(recipe.data, validation_fraction=recipe.validation_fraction,
                                  seed=recipe.seed)
    except DataNotFoundError as e:
        raise UsageError(str(e)) from None


def _print_json(obj) -> None:
    print(json.dumps(obj, default=str), flush=True)


# --- commands -----------------------------------------------------------------------------

def cmd_list(args) -> int:
    from kdl.cards import load_card
    from kdl.recipes import get_recipe, list_recipes

    rows = []
    for name in list_recipes(args.pattern):
        r = get_recipe(name)
        card = load_card(name)
        last = "-"
        if card:
            value = card["test_metrics"].get(r.target_metric)
            last = f"{value:.4f} ({card['epochs_run']} ep, {card['wall_s'] / 60:.0f} min)" \
                if value is not None else "-"
        rows.append({"recipe": name, "model": r.model, "data": r.data,
                     "target": f"{r.target_metric} {'<' if r.target_metric in ('mse', 'loss') else '>'} {r.target}"
                     if r.target is not None else "-", "last_result": last})
    if args.json:
        _print_json(rows)
        return 0
    widths = {k: max(len(k), *(len(str(row[k])) for row in rows)) for k in rows[0]} if rows else {}
    print("  ".join(k.ljust(w) for k, w in widths.items()))
    for row in rows:
        print("  ".join(str(row[k]).ljust(w) for k, w in widths.items()))
    return 0


def _export(result_model, recipe, export_dir, summary, data_info):
    from kdl.export import export_saved_model

    meta = {**summary, "recipe": recipe.name, "config": recipe.to_dict(),
            "class_names": list(data_info.class_names) if recipe.task != "char_rnn" else None}
    return export_saved_model(result_model, export_dir, recipe.name, task=recipe.task,
                              metadata=meta,
                              vocabulary=data_info.vocabulary if recipe.task == "char_rnn" else None)


argv_for_card: list[str] | None = None


def cmd_train(args) -> int:
    import time

    start = time.perf_counter()
    recipe = _resolve_recipe(args)
    # The strategy first: MultiWorkerMirroredStrategy must configure collective ops
    # before TensorFlow runs anything (loading the data does).
    strategy = _strategy(args)
    _check_data(recipe)
    from kdl.cards import save_card
    from kdl.distribute import is_chief
    from kdl.training import WorkdirMismatchError, train_and_evaluate

    try:
        result = train_and_evaluate(recipe, _workdir(args, recipe), strategy=strategy,
                                    verbose=0 if args.json and args.quiet else 1)
    except WorkdirMismatchError as e:
        raise UsageError(str(e)) from None
    summary = result.summary()
    export_path = None
    if not args.no_export and is_chief():
        export_path = _export(result.model, recipe, args.export_dir, summary, result.data)
    summary["export_path"] = export_path
    summary["wall_s"] = round(time.perf_counter() - start, 2)
    if args.record and is_chief():
        command = " ".join(["kdl", *(argv_for_card or [])]) if argv_for_card else None
        save_card(recipe, summary, pretrain=result.pretrain_report, command=command)
    if args.json:
        _print_json(summary)
    else:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in summary["test_metrics"].items())
        print(f"{recipe.name}: {summary['epochs_run']} epochs, test {metrics}, "
              f"{summary['wall_s']:.0f} s" + (f", exported to {export_path}" if export_path else ""))
    return 0


def _load_workdir_model(args, recipe):
    import keras

    path = os.path.join(_workdir(args, recipe), "model.keras")
    if not os.path.exists(path):
        raise UsageError(f"No trained model at {path}: run `kdl train {recipe.name}` first. "
                         f"Received: --workdir={args.workdir!r}")
    import kdl.layers  # noqa: F401  (registers kdl's serializable layers)
    import kdl.data.augment  # noqa: F401
    import kdl.training  # noqa: F401

    return keras.saving.load_model(path, safe_mode=True)


def cmd_evaluate(args) -> int:
    recipe = _resolve_recipe(args)
    _check_data(recipe)
    model = _load_workdir_model(args, recipe)
    from kdl.training import prepare_data

    data = prepare_data(recipe)
    metrics = {k: float(v) for k, v in model.evaluate(data.test, verbose=0,
                                                      return_dict=True).items()}
    out = {"recipe": recipe.name, "test_metrics": metrics}
    _print_json(out) if args.json else print(out)
    return 0


def cmd_export(args) -> int:
    recipe = _resolve_recipe(args)
    model = _load_workdir_model(args, recipe)
    result_path = os.path.join(_workdir(args, recipe), "result.json")
    summary = json.load(open(result_path)) if os.path.exists(result_path) else {}
    from kdl.training import prepare_data

    data = prepare_data(recipe) if recipe.task == "char_rnn" else None
    from kdl.export import export_saved_model

    class_names = None
    if recipe.task != "char_rnn":
        ds = _check_data(recipe)
        class_names = list(ds.class_names)
    path = export_saved_model(model, args.export_dir, recipe.name, task=recipe.task,
                              metadata={**summary, "recipe": recipe.name,
                                        "config": recipe.to_dict(), "class_names": class_names},
                              vocabulary=data.vocabulary if data else None)
    _print_json({"recipe": recipe.name, "export_path": path}) if args.json else print(path)
    return 0


def _read_image(path: str):
    import numpy as np

    if not os.path.exists(path):
        raise UsageError(f"No such file. Received: {path!r}")
    if path.lower().endswith(".npy"):
        array = np.load(path)
    elif path.lower().endswith((".png", ".jpg", ".jpeg", ".bmp")):
        from PIL import Image

        array = np.asarray(Image.open(path))
    else:
        raise UsageError(f"predict reads .png, .jpg or .npy files. Received: {path!r}")
    return array


def _resolve_export(path: str) -> str:
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    if os.path.isdir(path):
        versions = sorted((int(d) for d in os.listdir(path) if d.isdigit()), reverse=True)
        if versions:
            return os.path.join(path, str(versions[0]))
    raise UsageError(f"No SavedModel (saved_model.pb) at {path} or in its numbered versions. "
                     f"Received: {path!r}")


def cmd_predict(args) -> int:
    import numpy as np

    export = _resolve_export(args.export_dir)
    meta_path = os.path.join(export, "kdl.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    import tensorflow as tf

    loaded = tf.saved_model.load(export)
    serve = loaded.signatures["serving_default"]
    spec = list(serve.structured_input_signature[1].values())[0]
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


def cmd_cards(args) -> int:
    from kdl.cards import write_readme_cards

    path = write_readme_cards(args.readme)
    print(f"recipe cards written to {path}")
    return 0


def cmd_tune(args) -> int:
    from kdl.tuning import run_tune_command

    return run_tune_command(args, UsageError)


# --- parser -------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kdl", description="Deep-learning recipes for Keras.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the recipes, with target and last measured result")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    def recipe_args(p, training=True):
        p.add_argument("recipe", help="recipe name (see `kdl list`)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a recipe field, e.g. --set learning_rate=0.01")
        p.add_argument("--workdir", help="logs, backup and final model (default runs/RECIPE)")
        p.add_argument("--smoke", action="store_true", help="the recipe's seconds-long variant")
        p.add_argument("--json", action="store_true", help="last line: one JSON object")
        if training:
            p.add_argument("--epochs", type=_positive("--epochs"))
            p.add_argument("--batch-size", type=_positive("--batch-size"))

    p = sub.add_parser("train", help="train a recipe, evaluate on test, export a SavedModel")
    recipe_args(p)
    p.add_argument("--export-dir", default="saved_models")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--strategy", default="auto",
                   choices=["auto", "default", "one_device", "mirrored", "multi_worker", "tpu"])
    p.add_argument("--precision", choices=["float32", "mixed_float16", "mixed_bfloat16"])
    p.add_argument("--record", action="store_true",
                   help="write this run's result as the recipe's card (recipes/cards/)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a trained workdir model on the test split")
    recipe_args(p, training=False)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="export a trained workdir model as a SavedModel")
    recipe_args(p, training=False)
    p.add_argument("--export-dir", default="saved_models")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("predict", help="classify images (png, jpg, npy) with an export")
    p.add_argument("export_dir", help="a version directory, or the recipe's (latest version)")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("tune", help="KerasTuner search over a recipe's space")
    p.add_argument("recipe")
    p.add_argument("--tuner", default="random")
    p.add_argument("--max-trials", type=int, default=10)
    p.add_argument("--epochs", type=int)
    p.add_argument("--workdir")
    p.add_argument("--objective", default="val_accuracy")
    p.add_argument("--export", action="store_true")
    p.add_argument("--export-dir", default="saved_models")
    p.add_argument("--json", action="store_true")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--chief", action="store_true", help="run the oracle (distributed tuning)")
    p.add_argument("--worker", metavar="ID", help="run trials as this worker")
    p.add_argument("--oracle-address", default="127.0.0.1")
    p.add_argument("--oracle-port", type=int, default=8000)
    p.add_argument("--connect-timeout", type=float, default=60.0)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("cards", help="write the README's recipe cards from recorded runs")
    p.add_argument("--readme", default="README.md")
    p.set_defaults(func=cmd_cards)
    return parser


def main(argv: list[str] | None = None) -> int:
    global argv_for_card
    parser = build_parser()
    argv_for_card = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"kdl: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run_recipe_file(name: str) -> None:
    """What ``python recipes/NAME.py [ARGS]`` does: ``kdl train NAME [ARGS]``."""
    sys.exit(main(["train", name, *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
