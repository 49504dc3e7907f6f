"""Training images/s of one recipe under several settings, alternating, in one run.

How kdl decides a setting that changes speed (batch size, steps per execution,
precision, ...): each variant of the recipe is timed the way ``make bench`` times it
(median of timed windows after a warm-up), and the variants take turns, ``--rounds``
times, so that this VM's drifts in speed fall on all of them alike.

    python -m benchmarks.recipe_settings lenet5_fashion_mnist \\
        '{}' '{"batch_size": 256}' '{"precision": "mixed_bfloat16"}' [--rounds 2]

Prints one JSON line per measurement and, last, one JSON object: each variant's rates.
"""

from __future__ import annotations

import argparse
import json
import statistics

from benchmarks import run_all


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("variants", nargs="+", help="JSON objects of recipe fields to change")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--images-per-window", type=int, default=51_200)
    parser.add_argument("--windows", type=int, default=3)
    args = parser.parse_args(argv)
    from kdl.recipes import get_recipe
    from kdl.platform import precision_for, set_precision

    base = get_recipe(args.recipe)
    variants = [json.loads(v) for v in args.variants]
    for v in variants:
        unknown = sorted(set(v) - set(base.to_dict()))
        if unknown:
            parser.error(f"unknown recipe field(s) {', '.join(unknown)}. Received: {json.dumps(v)}")
    rates = [[] for _ in variants]
    for _ in range(args.rounds):
        for i, changes in enumerate(variants):
            recipe = base.replace(**changes)
            spe = recipe.steps_per_execution
            steps = max(spe, args.images_per_window // recipe.batch_size // spe * spe)
            set_precision(precision_for(recipe))
            try:
                rate, _, _ = run_all.kdl_throughput(recipe, args.windows, steps, 2 * spe)
            finally:
                set_precision("float32")
            rates[i].append(round(rate))
            print(json.dumps({"variant": changes, "images_per_s": round(rate)}), flush=True)
    result = {"recipe": args.recipe, "variants": [
        {"variant": v, "images_per_s": r, "median": statistics.median(r)}
        for v, r in zip(variants, rates, strict=True)]}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("recipe_settings", main()))
