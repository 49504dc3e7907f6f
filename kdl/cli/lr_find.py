"""``kdl lr-find RECIPE``: the learning-rate range test (:mod:`kdl.engine.lr_find`), its
figure and its suggested rates."""

from __future__ import annotations

import argparse
import os

from kdl.cli.common import add_recipe_args, positive, print_json, resolve_recipe


def _rate(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a learning rate must be a number. "
                                         f"Received: {text!r}") from None


def add_parser(sub) -> None:
    p = sub.add_parser("lr-find", help="learning-rate range test: the loss over one epoch of "
                                       "exponentially growing rates, a figure, a suggested rate")
    add_recipe_args(p, training=False)
    p.add_argument("--min-lr", type=_rate, default=1e-7)
    p.add_argument("--max-lr", type=_rate, default=10.0)
    p.add_argument("--steps", type=positive("--steps"),
                   help="batches of the ramp (default: one epoch's)")
    p.add_argument("--out", help="where lr_find.json and lr_find.png go "
                                 "(default: the workdir, runs/lr_find/RECIPE)")
    p.set_defaults(func=run)


def run(args) -> int:
    from kdl.engine.lr_find import lr_range_test, write_lr_find

    recipe = resolve_recipe(args)
    result = lr_range_test(recipe, min_lr=args.min_lr, max_lr=args.max_lr, steps=args.steps)
    out = args.out or args.workdir or os.path.join("runs", "lr_find", recipe.name)
    path, figure = write_lr_find(result, recipe, out)
    summary = {"recipe": recipe.name, "suggested": result.suggested,
               "min_over_ten": result.min_over_ten, "diverged_at": result.diverged_at,
               "recipe_learning_rate": recipe.learning_rate, "batches": len(result.losses),
               "result": path, "figure": figure}
    if args.json:
        print_json(summary)
        return 0

    def rate(value):
        return "-" if value is None else f"{value:.2g}"

    print(f"{recipe.name}: {len(result.losses)} batches from {args.min_lr:g} to "
          f"{result.rates[-1]:.2g}; suggested {rate(result.suggested)} (steepest fall), "
          f"{rate(result.min_over_ten)} (minimum / 10); diverged at {rate(result.diverged_at)}; "
          f"the recipe's {recipe.learning_rate:g}")
    print(f"figure: {figure}")
    return 0
