"""float32 against mixed_bfloat16 (and mixed_float16) for a ResNet-20 training step here.

Side by side in one run, alternating, on the real Fashion-MNIST recipe
(``resnet20_fashion_mnist``'s model, batch 128): images/s, median of timed windows.
The last line is JSON with each policy's rate and its ratio to float32.

    python -m benchmarks.mixed_precision [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics

import kdl  # noqa: F401  (sets KERAS_BACKEND)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--recipe", default="resnet20_fashion_mnist")
    parser.add_argument("--policies", default="float32,mixed_bfloat16")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    from benchmarks.run_all import kdl_throughput

    from kdl.platform import set_precision
    from kdl.recipes import get_recipe, list_recipes, register_recipe

    rates = {p: [] for p in args.policies.split(",")}
    base = get_recipe(args.recipe)
    for _ in range(args.rounds):
        for policy in rates:
            name = f"{base.name}@{policy}"
            if name not in list_recipes():
                register_recipe(base.replace(name=name, precision=policy))
            set_precision(policy)
            try:
                rate, _, _ = kdl_throughput(name, windows=args.windows, steps=args.steps, warmup=10)
            finally:
                set_precision("float32")
            rates[policy].append(rate)
            print(json.dumps({"policy": policy, "images_per_s": round(rate)}), flush=True)
    med = {p: statistics.median(r) for p, r in rates.items()}
    out = {"recipe": args.recipe, "images_per_s": {p: round(v) for p, v in med.items()},
           "ratio_to_float32": {p: round(v / med["float32"], 2) for p, v in med.items()}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("mixed_precision", main()))
