"""What the live progress line costs a training step: LeNet-5's recipe, epochs with
:class:`kdl.callbacks.EpochProgress` (epoch lines only) against
:class:`kdl.callbacks.LiveEpochProgress` (a batch hook redrawing a line every 0.25 s,
written to /dev/null here), alternating in one process, the first epoch of each dropped
(tracing); and the hook alone, per call, against the step's time (the epochs' ratio is
within their run-to-run spread). The last line is their ratio.

    python -m benchmarks.progress_cost [--rounds 3] [--examples 16384]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import kdl  # noqa: F401  (sets KERAS_BACKEND)
from benchmarks._common import write_result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="lenet5_fashion_mnist")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--examples", type=int, default=16384)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from kdl.callbacks import EpochProgress, LiveEpochProgress
    from kdl.engine.loop import build_model, compile_model, prepare_data
    from kdl.recipes import get_recipe

    recipe = get_recipe(args.recipe).replace(max_train_examples=args.examples)
    data = prepare_data(recipe)
    model = build_model(recipe, data)
    compile_model(model, recipe, data.steps_per_epoch)
    model.fit(data.train, epochs=1, verbose=0)  # tracing, for both
    sink = open(os.devnull, "w")
    seconds = {"epoch lines only": [], "live line": []}
    for _ in range(args.rounds):
        for name in seconds:
            callback = EpochProgress(1, print_fn=lambda line: None) if name == "epoch lines only" \
                else LiveEpochProgress(1, print_fn=lambda line: None,
                                       batch_size=recipe.batch_size, stream=sink)
            start = time.perf_counter()
            model.fit(data.train, epochs=1, verbose=0, callbacks=[callback])
            seconds[name].append(time.perf_counter() - start)
            print(f"{name}: {seconds[name][-1]:.2f} s", flush=True)
    median = {k: statistics.median(v) for k, v in seconds.items()}
    # The hook alone, per call (its draws included, every 0.25 s): against a step's time.
    hook = LiveEpochProgress(1, print_fn=lambda line: None, batch_size=recipe.batch_size,
                             stream=sink)
    hook.set_model(model)
    hook.set_params({"steps": data.steps_per_epoch, "epochs": 1})
    hook.on_epoch_begin(0)
    start, calls = time.perf_counter(), 20000
    for i in range(calls):
        hook.on_train_batch_end(i % data.steps_per_epoch, {"loss": 0.5})
    hook_us = (time.perf_counter() - start) / calls * 1e6
    step_us = median["epoch lines only"] / data.steps_per_epoch * 1e6
    result = {"recipe": args.recipe, "examples": args.examples, "steps": data.steps_per_epoch,
              "epoch_seconds": seconds, "median_s": median,
              "live_over_plain": median["live line"] / median["epoch lines only"],
              "hook_us_per_step": round(hook_us, 2), "step_us": round(step_us, 1),
              "hook_share_of_step": hook_us / step_us}
    kwargs = {"out": args.out} if args.out else {}
    print(write_result("progress_cost", result, argv=argv, **kwargs))
    print(result["live_over_plain"])
    return result


if __name__ == "__main__":
    main()
