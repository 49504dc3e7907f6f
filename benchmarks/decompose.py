"""Where a kdl / hand-written throughput gap comes from: three ways to train one model,
alternating, in one run.

1. ``hand``: the hand-written keras-io-style model (``benchmarks/handwritten.py``),
   ``fit`` on in-memory float arrays, the recipe's optimizer without its extras.
2. ``kdl_model``: kdl's model of the recipe (normalization and resizing inside), fed and
   compiled exactly as 1 (the same arrays, plain optimizer, no augmentation).
3. ``kdl_recipe``: the recipe as ``kdl train`` runs it (tf.data pipeline with its
   augmentation, the recipe's optimizer with weight decay / averaging, steps per call),
   as ``make bench`` times it.

1 against 2 is the model's implementation; 2 against 3 is the input pipeline and the
recipe's training options.

    python -m benchmarks.decompose alexnet_fashion_mnist [--rounds 3] [--steps 12]

Prints one JSON line per measurement, and last one JSON object with each way's median.
"""

from __future__ import annotations

import argparse
import json
import statistics

from benchmarks import run_all


def kdl_model_throughput(recipe, arrays, windows, steps, warmup):
    """kdl's model of ``recipe``, trained the hand-written way on ``arrays``."""
    from benchmarks import handwritten
    import numpy as np

    from kdl.engine.loop import build_model, loss_and_metrics, prepare_data

    data = prepare_data(recipe)
    model = build_model(recipe, data)
    loss, metrics = loss_and_metrics(recipe)
    model.compile(optimizer=handwritten.optimizer(recipe.optimizer, recipe.learning_rate,
                                                  recipe.momentum), loss=loss, metrics=metrics)
    (x, y), _ = arrays
    x = x.astype("float32")  # kdl's models take pixels in [0, 255]; they normalize inside
    rate = run_all._Rate(recipe.batch_size, warmup, steps)
    needed = (warmup + windows * steps) * recipe.batch_size
    reps = -(-needed // len(x))
    model.fit(np.concatenate([x] * reps), np.concatenate([y] * reps),
              batch_size=recipe.batch_size, epochs=1, verbose=0, callbacks=[rate.callback],
              steps_per_epoch=warmup + windows * steps)
    return statistics.median(rate.rates)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", choices=sorted(run_all.PAIRS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12, help="batches per timed window")
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=4)
    args = parser.parse_args(argv)
    from benchmarks import handwritten

    from kdl.recipes import get_recipe

    recipe = get_recipe(args.recipe)
    arrays = handwritten.load_arrays()
    ways = {
        "hand": lambda: run_all.handwritten_throughput(
            run_all.PAIRS[args.recipe], recipe, args.windows, args.steps, args.warmup, arrays),
        "kdl_model": lambda: kdl_model_throughput(recipe, arrays, args.windows, args.steps,
                                                  args.warmup),
        "kdl_recipe": lambda: run_all.kdl_throughput(recipe, args.windows, args.steps,
                                                     args.warmup)[0],
    }
    rates = {k: [] for k in ways}
    for i in range(args.rounds):
        order = list(ways) if i % 2 == 0 else list(reversed(ways))
        for way in order:
            rates[way].append(round(ways[way]()))
            print(json.dumps({"round": i, "way": way, "images_per_s": rates[way][-1]}), flush=True)
    medians = {k: statistics.median(v) for k, v in rates.items()}
    summary = {"recipe": args.recipe, "rates": rates, "median": medians,
               "kdl_model_over_hand": round(medians["kdl_model"] / medians["hand"], 3),
               "kdl_recipe_over_kdl_model": round(medians["kdl_recipe"] / medians["kdl_model"], 3)}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("decompose", main()))
