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
    p.add_argument("--data", metavar="SPEC", help="the data instead of the recipe's: "
                   "folder:PATH, cifar10:PATH, cifar100:PATH, idx:DIR, npz:FILE or a name")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    if training:
        p.add_argument("--from", dest="base", metavar="BASE", help="with --name NEW: a new "
                       "recipe from BASE, its file written into the workdir")
        p.add_argument("--name", metavar="NEW", help="the new recipe's name (with --from)")
        p.add_argument("--epochs", type=positive("--epochs"))
        p.add_argument("--batch-size", type=positive("--batch-size"))


def add_format_arg(p) -> None:
    p.add_argument("--format", action="append", metavar="FORMAT", dest="formats",
                   help="onnx or litert too, checked on the test split (repeatable)")


def check_formats(args) -> list[str]:
    """The ``--format`` values, checked before anything is trained or written."""
    from keras import backend

    from kdl.formats import check_formats
    return check_formats(getattr(args, "formats", None), backend.backend())


def _recipe_name(args) -> str:
    base, new = getattr(args, "base", None), getattr(args, "name", None)
    problem = ("give the recipe once: as RECIPE or as --from" if args.recipe and base else
               "name a recipe (see `kdl list`), a recipe file, or --from BASE --name NEW"
               if not (args.recipe or base) else
               "--name makes a new recipe from --from BASE" if new is not None and not base else
               "--from BASE needs --name NEW, the new recipe's name" if base and new is None
               else None)
    if problem:
        raise UsageError(f"{problem[0].upper()}{problem[1:]}. Received: "
                         f"{' '.join(getattr(args, 'argv', [])) or 'no recipe'}")
    return args.recipe or base


def resolve_recipe(args):
    from kdl.engine.resolve import resolve_recipe

    try:
        return resolve_recipe(_recipe_name(args), smoke=getattr(args, "smoke", False),
                              overrides=args.set or [], new_name=getattr(args, "name", None),
                              epochs=getattr(args, "epochs", None),
                              batch_size=getattr(args, "batch_size", None),
                              data=getattr(args, "data", None),
                              precision=getattr(args, "precision", None) or None,
                              deterministic=True if getattr(args, "deterministic", False) else None)
    except ValueError as e:
        raise UsageError(str(e)) from None


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
    from kdl.engine.distribute import strategy_for_backend

    strategy, args.data_parallel_devices = strategy_for_backend(
        getattr(args, "strategy", "auto") or "auto", os.environ.get("KERAS_BACKEND", "tensorflow"))
    return strategy


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
