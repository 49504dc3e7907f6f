"""tf.data autotuning on and off at the epoch boundary, side by side in one run.

With autotuning on (TensorFlow's default), deleting an iterator that ran to its end
sometimes waits seconds with every core idle. ``fit`` deletes one at every epoch's end
and ``evaluate`` one per call, so the wait lands on the epochs of every recipe. kdl's
pipelines turn autotuning off (``make_pipeline(autotune=False)``, the default) and set
its two knobs by hand. This measures the recipe's own pipelines both ways, alternating:

- ``deletions``: the training pipeline run to its end by a ``tf.function`` (as ``fit``
  runs it) and its iterator deleted, ``--deletions`` times: seconds per deletion.
- ``fit``: the recipe's model trained ``--epochs`` epochs with validation: wall seconds.

The timed windows of ``benchmarks/run_all.py`` fall inside epochs, so they never saw it.

    python -m benchmarks.epoch_boundary [--recipe lenet5_fashion_mnist] [--rounds 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time

import kdl  # noqa: F401  (sets KERAS_BACKEND)

SLOW_DELETION_S = 0.1


def bundles(recipe):
    """The recipe's data, prepared with autotuning off (kdl's default) and on."""
    import kdl.data
    from kdl.engine.loop import prepare_data

    out = {"off": prepare_data(recipe)}
    own = kdl.data.make_pipeline
    kdl.data.make_pipeline = functools.partial(own, autotune=True)
    try:
        out["on"] = prepare_data(recipe)
    finally:
        kdl.data.make_pipeline = own
    return out


def deletion_seconds(dataset) -> float:
    """Run ``dataset`` to its end inside a tf.function, then time deleting its iterator."""
    import tensorflow as tf

    @tf.function
    def take(iterator):
        return tf.reduce_sum(next(iterator)[0])

    iterator = iter(dataset)
    try:
        while True:
            take(iterator)
    except (tf.errors.OutOfRangeError, StopIteration):
        pass
    start = time.perf_counter()
    del iterator
    return time.perf_counter() - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="lenet5_fashion_mnist")
    parser.add_argument("--rounds", type=int, default=3, help="fit runs per setting")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit run")
    parser.add_argument("--deletions", type=int, default=10, help="deletions per setting")
    parser.add_argument("--max-examples", type=int, help="a prefix of the train split (smoke)")
    args = parser.parse_args(argv)
    from kdl.recipes import get_recipe
    from kdl.engine.loop import build_model, compile_model

    recipe = get_recipe(args.recipe)
    if args.max_examples:
        recipe = recipe.replace(max_train_examples=args.max_examples,
                                max_test_examples=args.max_examples)
    data = bundles(recipe)
    deletions = {which: [] for which in data}
    for _ in range(args.deletions):
        for which, bundle in data.items():
            deletions[which].append(deletion_seconds(bundle.train))
    model = build_model(recipe, data["off"])
    compile_model(model, recipe, data["off"].steps_per_epoch)
    warm_up = data["off"].train.take(2 * (recipe.steps_per_execution or 1))
    model.fit(warm_up, epochs=1, verbose=0)  # traces the train step
    fits = {which: [] for which in data}
    for _ in range(args.rounds):
        for which, bundle in data.items():
            start = time.perf_counter()
            model.fit(bundle.train, validation_data=bundle.validation, epochs=args.epochs,
                      verbose=0)
            fits[which].append(time.perf_counter() - start)
    from kdl.platform import hardware

    result = {
        "recipe": args.recipe, "epochs": args.epochs,
        "fit_s": {w: [round(s, 3) for s in v] for w, v in fits.items()},
        "fit_median_s": {w: round(statistics.median(v), 3) for w, v in fits.items()},
        "ratio_on_over_off": round(statistics.median(fits["on"]) / statistics.median(fits["off"]), 3),
        "deletion_s": {w: [round(s, 3) for s in v] for w, v in deletions.items()},
        f"deletions_over_{SLOW_DELETION_S}s": {w: sum(s > SLOW_DELETION_S for s in v)
                                               for w, v in deletions.items()},
        "machine": hardware().get("cpu"), "cores": os.cpu_count(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("epoch_boundary", main()))
