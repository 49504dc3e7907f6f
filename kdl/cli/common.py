"""What the commands share: the usage error, the recipe resolution and checks they call,
the workdir they default to, and the printing of JSON and tables."""

from __future__ import annotations

import argparse
import json
import os


# Options that change where things are written or how much is printed, not what is
# measured: left out of the command a card keeps (value: how many words follow).
OUTPUT_ONLY = {"--workdir": 1, "--export-dir": 1, "--format": 1, "--json": 0, "--quiet": 0, "--no-export": 0,
               "--no-report": 0, "--verbose": 0}


class UsageError(Exception):
    """Bad input from the command line: one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (no usage block above them)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def positive(name):
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


def add_recipe_args(p, training: bool = True) -> None:
    p.add_argument("recipe", nargs="?" if training else None,
                   help="a recipe's name (see `kdl list`) or a recipe file (./my_recipe.py)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a recipe field, e.g. --set learning_rate=0.01")
    p.add_argument("--workdir", help="logs, backup and final model (default runs/RECIPE)")
    p.add_argument("--smoke", action="store_true", help="the recipe's seconds-long variant")
    p.add_argument("--data", metavar="SPEC",
                   help="the data instead of the recipe's: folder:PATH, cifar10:PATH, "
                        "cifar100:PATH, idx:DIR, npz:FILE or a data set's name")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    if training:
        p.add_argument("--from", dest="base", metavar="BASE",
                       help="start from recipe BASE (with --name NEW: a new recipe, its file "
                            "written into the workdir)")
        p.add_argument("--name", metavar="NEW", help="the new recipe's name (with --from)")
        p.add_argument("--epochs", type=positive("--epochs"))
        p.add_argument("--batch-size", type=positive("--batch-size"))


def add_format_arg(p) -> None:
    p.add_argument("--format", action="append", metavar="FORMAT", dest="formats",
                   help="onnx or litert too, checked on the test split (repeatable)")


def check_formats(args) -> list[str]:
    """The ``--format`` values, checked before anything is trained or written."""
    from kdl.formats import check_formats
    from keras import backend
    return check_formats(getattr(args, "formats", None), backend.backend())


def _recipe_name(args) -> str:
    base, name = getattr(args, "base", None), getattr(args, "name", None)
    if args.recipe and base:
        raise UsageError(f"Give the recipe once: as RECIPE or as --from. Received: {args.recipe} "
                         f"--from {base}")
    if not (args.recipe or base):
        raise UsageError("Name a recipe (see `kdl list`), a recipe file, or --from BASE --name "
                         "NEW. Received: no recipe")
    if name is not None and not base:
        raise UsageError(f"--name makes a new recipe from --from BASE. Received: --name {name} "
                         f"without --from")
    if base and name is None:
        raise UsageError(f"--from BASE needs --name NEW, the new recipe's name. Received: "
                         f"--from {base}")
    return args.recipe or base


def resolve_recipe(args):
    import re

    from kdl.engine.resolve import resolve_recipe
    from kdl.recipes import is_shipped

    name, new = _recipe_name(args), getattr(args, "name", None)
    if new is not None and (not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", new)
                            or is_shipped(new)):
        why = "one of kdl's own recipes" if is_shipped(new) else \
            "a letter, then letters, digits, _ or -"
        raise UsageError(f"--name must be a new recipe's name ({why}). Received: --name {new!r}")
    try:
        recipe = resolve_recipe(name, smoke=getattr(args, "smoke", False),
                              overrides=args.set or [],
                              epochs=getattr(args, "epochs", None),
                              batch_size=getattr(args, "batch_size", None),
                              data=getattr(args, "data", None),
                              precision=getattr(args, "precision", None) or None,
                              deterministic=True if getattr(args, "deterministic", False) else None)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if new is not None:
        recipe = recipe.replace(name=new, origin=f"from:{name}")
    return recipe


def check_data(recipe) -> dict:
    """The recipe's data checked (bad data: one line, exit 2); returns its fingerprint."""
    from kdl.engine.resolve import check_data

    return check_data(recipe)


def workdir_for(args, recipe) -> str:
    return args.workdir or os.path.join("runs", recipe.name)


def load_workdir_model(args, recipe):
    import keras

    path = os.path.join(workdir_for(args, recipe), "model.keras")
    if not os.path.exists(path):
        raise UsageError(f"No trained model at {path}: run `kdl train {recipe.name}` first. "
                         f"Received: --workdir={args.workdir!r}")
    import kdl.data.augment  # noqa: F401  (registers kdl's serializable layers)
    import kdl.layers  # noqa: F401  (and, through it, kdl's losses)

    return keras.saving.load_model(path, safe_mode=True)


def print_json(obj) -> None:
    print(json.dumps(obj, default=str), flush=True)


def cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_table(rows: list[dict]) -> None:
    """``rows`` as aligned columns under their keys."""
    if not rows:
        return
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(cell(r[k])) for r in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for r in rows:
        print("  ".join(cell(r[k]).ljust(widths[k]) for k in keys))


def strategy_for(args):
    """The tf.distribute strategy ``--strategy`` asks for (None on JAX and PyTorch, where
    ``auto`` spreads over local accelerators with Keras' data parallelism)."""
    from kdl.engine.distribute import StrategyError, get_strategy

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    kind = getattr(args, "strategy", "auto") or "auto"
    if backend != "tensorflow":
        cluster = os.environ.get("TF_CONFIG")
        if kind not in ("auto", "default") or cluster:
            raise UsageError(f"tf.distribute strategies need the TensorFlow backend. Received: "
                             f"--strategy {kind}{' with TF_CONFIG set' if cluster else ''}"
                             f" on KERAS_BACKEND={backend}")
        if kind == "auto":
            from kdl.engine.distribute import use_keras_data_parallel

            args.data_parallel_devices = use_keras_data_parallel()
        return None
    try:
        return get_strategy(kind)
    except StrategyError as e:
        raise UsageError(str(e)) from None


def shown_command(argv: list[str]) -> str:
    """``kdl ARGV`` without the output-only options, as a reader would rerun it."""
    words, kept, i = list(argv), ["kdl"], 0
    while i < len(words):
        name = words[i].split("=", 1)[0]
        if name in OUTPUT_ONLY:
            i += 1 + (OUTPUT_ONLY[name] if "=" not in words[i] else 0)
            continue
        kept.append(words[i])
        i += 1
    return " ".join(kept)
