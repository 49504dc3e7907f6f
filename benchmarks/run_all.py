"""`make bench`: kdl against hand-written Keras, measured side by side in one run.

1. Training throughput (images/s, median of several timed windows after a warm-up) of
   Fashion-MNIST recipes' models at their recipe settings (augmentation on), and of the
   same model written the keras-io way (``benchmarks/handwritten.py``), alternating.
2. Achieved compute: training FLOPs per image (counted from the layers: 2 x MACs
   forward, x3 for forward + backward) x images/s, as a fraction of this CPU's float32
   peak, itself measured here (a 4096x4096 matmul).
3. Time to accuracy: wall seconds of ``lenet5_fashion_mnist`` training until the test
   accuracy first reaches 0.90, for each of ``TIME_TO_ACCURACY_SEEDS``, and their median.
4. Serving: exported LeNet-5 and ResNet-20 through ``serving_default``: batch-1 latency
   p50/p99 and batch-256 throughput.

Writes ``benchmarks/results/run_all-MACHINE.json`` (``--quick``: ``run_all-quick-...``);
``make docs`` renders it. Benchmarks report; they never assert a time.

    python -m benchmarks.run_all [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time

import kdl  # noqa: F401  (sets KERAS_BACKEND)
from benchmarks._common import RESULTS, result_path, write_result

# Each benchmarked recipe and its hand-written model in benchmarks/handwritten.py.
PAIRS = {"mlp_fashion_mnist": "mlp", "lenet5_fashion_mnist": "lenet5",
         "resnet20_fashion_mnist": "resnet20", "alexnet_fashion_mnist": "alexnet",
         "resnet18_fashion_mnist": "resnet18", "vgg16_fashion_mnist": "vgg16"}
# LeNet-5's time to 0.90 is measured with this training budget (its cosine schedule ends
# there); None: the recipe's own 30 epochs (shorter budgets ended below 0.90:
# benchmarks/accuracy_curve.py).
TIME_TO_ACCURACY_EPOCHS = None
# ... and these seeds: one run is not a result.
TIME_TO_ACCURACY_SEEDS = (0, 1, 2)


def training_flops_per_image(model) -> float:
    """2 x multiply-adds of Conv2D and Dense layers, x3 for the backward pass."""
    import keras

    macs = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape
            k = layer.kernel.shape
            macs += out[1] * out[2] * k[0] * k[1] * k[2] * k[3]
        elif isinstance(layer, keras.layers.Dense):
            k = layer.kernel.shape
            macs += k[0] * k[1]
    return 3 * 2 * macs


def _all_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _all_layers(layer)
        else:
            yield layer


def peak_flops(dtype="float32", n=4096, reps=8) -> float:
    """Best single n x n matmul rate: the best of several, since this VM's speed
    drifts (a mean over the run once read 159 GFLOP/s while VGG16's convolutions then
    ran faster than that)."""
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=dtype)
    b = tf.random.normal((n, n), dtype=dtype)
    f = tf.function(lambda a, b: tf.matmul(a, b))
    f(a, b).numpy()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        f(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


class _Rate:
    """images/s of timed windows of at least ``steps`` batches, after ``warmup`` batches.

    Uses the batch index Keras passes, so it also counts right when
    ``steps_per_execution`` > 1 calls the callback once per group of steps.
    """

    def __init__(self, batch_size, warmup, steps):
        import keras

        self.batch_size, self.warmup, self.steps = batch_size, warmup, steps
        self.rates, self._t, self._start = [], None, None
        self.callback = keras.callbacks.LambdaCallback(on_train_batch_end=self._on_batch)

    def _on_batch(self, batch, logs):
        done = batch + 1
        if self._t is None:
            if done >= self.warmup:
                self._t, self._start = time.perf_counter(), done
            return
        if done - self._start >= self.steps:
            now = time.perf_counter()
            self.rates.append((done - self._start) * self.batch_size / (now - self._t))
            self._t, self._start = now, done


def kdl_throughput(recipe, windows, steps, warmup):
    """Images/s of ``recipe`` (a name or a Recipe) training as ``kdl train`` trains it."""
    from kdl.recipes import get_recipe
    from kdl.engine.loop import build_model, compile_model, prepare_data

    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    data = prepare_data(recipe)
    model = build_model(recipe, data)
    compile_model(model, recipe, data.steps_per_epoch)
    rate = _Rate(recipe.batch_size, warmup, steps)
    total = warmup + windows * steps + recipe.steps_per_execution
    model.fit(data.train.repeat(), steps_per_epoch=total, epochs=1, verbose=0,
              callbacks=[rate.callback], shuffle=False)
    return statistics.median(rate.rates), model, recipe


def handwritten_throughput(name, recipe, windows, steps, warmup, arrays):
    """The keras-io way: the same model, batch size and optimizer, ``fit`` on arrays."""
    from benchmarks import handwritten

    (x, y), _ = arrays
    x = x.astype("float32") / 255.0
    batch_size = recipe.batch_size
    model = handwritten.MODELS[name]()
    model.compile(optimizer=handwritten.optimizer(recipe.optimizer, recipe.learning_rate,
                                                  recipe.momentum),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rate = _Rate(batch_size, warmup, steps)
    needed = (warmup + windows * steps) * batch_size
    reps = -(-needed // len(x))
    import numpy as np

    model.fit(np.concatenate([x] * reps), np.concatenate([y] * reps), batch_size=batch_size,
              epochs=1, verbose=0, callbacks=[rate.callback],
              steps_per_epoch=warmup + windows * steps)
    return statistics.median(rate.rates)


def reaches(accuracy: float, target: float) -> bool:
    """Whether a Keras accuracy reaches ``target``. Keras keeps its metrics in float32, so
    9,000 of 10,000 right reads 0.8999999762, below the float 0.9: compared in float32, as
    the recipe cards judge their targets."""
    from kdl.recipes import judge

    return judge("accuracy", target, accuracy)


def time_to_accuracy(target=0.90, epochs=TIME_TO_ACCURACY_EPOCHS, seed=None):
    """Training seconds until LeNet-5's test accuracy reaches ``target``, DAWNBench-style:
    the recipe with an ``epochs`` budget (its schedule spans that budget, as
    ``kdl train lenet5_fashion_mnist --epochs N``), test accuracy after each epoch.
    ``seed``: the recipe's own unless given."""
    import keras

    from kdl.recipes import get_recipe
    from kdl.engine.loop import build_model, compile_model, prepare_data, with_test_time_flip_compiled

    recipe = get_recipe("lenet5_fashion_mnist")
    recipe = recipe.replace(epochs=epochs or recipe.epochs,
                            seed=recipe.seed if seed is None else seed)
    data = prepare_data(recipe)
    model = build_model(recipe, data)
    compile_model(model, recipe, data.steps_per_epoch)
    # Test accuracy as the recipe reports it: through the flip-averaged model if it has one.
    evaluated = with_test_time_flip_compiled(model, recipe) if recipe.test_time_flip else model
    state = {"train_s": 0.0, "reached": None, "curve": [], "epochs": recipe.epochs,
             "budget": epochs, "seed": recipe.seed}

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            state["train_s"] += time.perf_counter() - self.t
            acc = evaluated.evaluate(data.test, verbose=0, return_dict=True)["accuracy"]
            state["curve"].append((epoch + 1, round(state["train_s"], 1), round(acc, 4)))
            if reaches(acc, target) and state["reached"] is None:
                state["reached"] = round(state["train_s"], 1)
                self.model.stop_training = True

    model.fit(data.train, epochs=recipe.epochs, verbose=0, callbacks=[Probe()], shuffle=False)
    return state


def serving(export_path, image_shape, batch=256, calls=200):
    import numpy as np
    import tensorflow as tf

    serve = tf.saved_model.load(export_path).signatures["serving_default"]
    one = tf.constant(np.zeros((1, *image_shape), np.uint8))
    many = tf.constant(np.zeros((batch, *image_shape), np.uint8))
    for _ in range(20):
        serve(one)
    lat = []
    for _ in range(calls):
        t = time.perf_counter()
        serve(one)["class_ids"].numpy()
        lat.append((time.perf_counter() - t) * 1e3)
    serve(many)
    t = time.perf_counter()
    for _ in range(10):
        serve(many)["class_ids"].numpy()
    return {"p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p99_ms": round(float(np.percentile(lat, 99)), 3),
            "batch256_images_per_s": round(10 * batch / (time.perf_counter() - t))}


def _previous_seconds(path: str) -> dict:
    """Each recipe's seconds in the last run of this kind (for the ETA), if it recorded them."""
    try:
        with open(path) as f:
            return {r["recipe"]: r["seconds"] for r in json.load(f)["throughput"] if "seconds" in r}
    except (OSError, ValueError, KeyError):
        return {}


def _progress(index: int, names: list, previous: dict, elapsed: float) -> None:
    left = [previous.get(n) for n in names[index:]]
    eta = f", ETA {sum(left) / 60:.0f} min (the last run's times)" if all(left) else ""
    print(f"bench: [{index + 1}/{len(names)}] {names[index]}, {elapsed / 60:.1f} min so far{eta}",
          file=sys.stderr, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description="kdl benchmarks")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few steps")
    parser.add_argument("--out", default=RESULTS, help="where to write the JSON and table")
    parser.add_argument("--recipes", help="comma-separated: only these of the table's recipes")
    args = parser.parse_args(argv)
    only = args.recipes.split(",") if args.recipes else list(PAIRS)
    unknown = sorted(set(only) - set(PAIRS))
    if unknown:
        parser.error(f"not in the bench table: {', '.join(unknown)}. Received: --recipes "
                     f"{args.recipes}")
    from benchmarks import handwritten

    from kdl.export import export_saved_model
    from kdl.platform import hardware

    # Timed windows of a few seconds each at these rates: windows of a fraction of a second
    # made the small models' ratios swing between runs with no code change.
    steps_per_window = {"mlp_fashion_mnist": 1000, "lenet5_fashion_mnist": 400,
                        "resnet20_fashion_mnist": 40, "alexnet_fashion_mnist": 12,
                        "resnet18_fashion_mnist": 6, "vgg16_fashion_mnist": 6}
    windows, warmup, rounds = (2, 3, 1) if args.quick else (5, 20, 3)
    arrays = handwritten.load_arrays()
    size = 2048 if args.quick else 4096  # quick: a smoke run, its peak only indicative
    peak32 = peak_flops("float32", n=size)
    results = {"machine": hardware(), "peak_float32_gflops": round(peak32 / 1e9),
               "peak_bfloat16_gflops": round(peak_flops("bfloat16", n=size) / 1e9),
               "peak_matmul_size": size, "throughput": [], "serving": {}}
    pairs = PAIRS
    large = ("alexnet_fashion_mnist", "resnet18_fashion_mnist", "vgg16_fashion_mnist")
    exports = {}
    names = [p for p in pairs if p in only and not (args.quick and p in large)]
    from kdl.platform import machine_line

    variant = "quick" if args.quick else ""
    previous = _previous_seconds(result_path("run_all", machine_line(hardware()), variant,
                                             args.out))
    bench_start = time.perf_counter()
    for index, recipe_name in enumerate(names):
        _progress(index, names, previous, time.perf_counter() - bench_start)
        recipe_start = time.perf_counter()
        kdl_rates, hand_rates = [], []
        # The large models run at 100-600 images/s here: one round of two windows after
        # a short warm-up keeps `make bench` near a quarter of an hour.
        w, wu, n = (2, 4, 1) if recipe_name in large and not args.quick else (windows, warmup, rounds)
        steps = 5 if args.quick else steps_per_window[recipe_name]
        for _ in range(n):  # alternate kdl and hand-written
            rate, model, recipe = kdl_throughput(recipe_name, w, steps, wu)
            kdl_rates.append(rate)
            hand_rates.append(handwritten_throughput(pairs[recipe_name], recipe, w, steps, wu,
                                                     arrays))
        kdl_rate = statistics.median(kdl_rates)
        flops = training_flops_per_image(model)
        row = {"recipe": recipe_name, "batch_size": recipe.batch_size,
               "augmentation": ", ".join(recipe.augmentation) or "none",
               "kdl_images_per_s": round(kdl_rate),
               "handwritten_images_per_s": round(statistics.median(hand_rates))
               if hand_rates else None,
               "train_gflop_per_image": round(flops / 1e9, 4),
               "fraction_of_float32_peak": round(kdl_rate * flops / peak32, 3),
               "seconds": round(time.perf_counter() - recipe_start, 1)}
        if row["handwritten_images_per_s"]:
            row["ratio"] = round(kdl_rate / row["handwritten_images_per_s"], 2)
        results["throughput"].append(row)
        print(json.dumps(row), flush=True)
        if recipe_name in ("lenet5_fashion_mnist", "resnet20_fashion_mnist"):
            from kdl.engine.loop import with_test_time_flip_compiled

            # What `kdl train` exports: with the recipe's flip averaging, if it has it.
            served = with_test_time_flip_compiled(model, recipe) if recipe.test_time_flip \
                else model
            tmp = tempfile.mkdtemp()
            exports[recipe_name] = export_saved_model(served, tmp, recipe_name,
                                                      task="classification")
    for name, path in exports.items():
        results["serving"][name] = serving(path, (28, 28, 1))
        print(json.dumps({name: results["serving"][name]}), flush=True)
    if not args.quick:
        results["time_to_accuracy"] = []
        for seed in TIME_TO_ACCURACY_SEEDS:
            results["time_to_accuracy"].append(time_to_accuracy(seed=seed))
            print(json.dumps({"time_to_accuracy": results["time_to_accuracy"][-1]}), flush=True)
    results["path"] = write_result("run_all", results, variant=variant, argv=argv,
                                   out=args.out)
    print(markdown(results))
    return results


def markdown(results) -> str:
    from kdl.platform import machine_line

    n = results.get("peak_matmul_size", 4096)
    lines = [f"Machine: {machine_line(results['machine'])}; float32 matmul peak "
             f"{results['peak_float32_gflops']} GFLOP/s, bfloat16 {results['peak_bfloat16_gflops']} "
             f"GFLOP/s (best single {n}x{n} matmul, measured in the same run).", "",
             "| recipe | batch | augmentation | kdl img/s | hand-written img/s | kdl / hand | "
             "train GFLOP/img | % of fp32 peak |", "|---|---|---|---|---|---|---|---|"]
    for r in results["throughput"]:
        lines.append(f"| {r['recipe']} | {r['batch_size']} | {r['augmentation']} | "
                     f"{r['kdl_images_per_s']} | {r['handwritten_images_per_s'] or '-'} | "
                     f"{r.get('ratio', '-')} | {r['train_gflop_per_image']} | "
                     f"{100 * r['fraction_of_float32_peak']:.1f}% |")
    if results["serving"]:
        lines += ["", "| export | batch-1 p50 ms | batch-1 p99 ms | batch-256 img/s |",
                  "|---|---|---|---|"]
        for name, s in results["serving"].items():
            lines.append(f"| {name} | {s['p50_ms']} | {s['p99_ms']} | "
                         f"{s['batch256_images_per_s']} |")
    runs = results.get("time_to_accuracy")
    if runs:
        first = runs[0]
        command = "kdl train lenet5_fashion_mnist" + (
            f" --epochs {first['epochs']}" if first.get("budget") else "")
        budget = (f" with {'a' if first.get('budget') else 'its own'} {first['epochs']}-epoch "
                  f"schedule (`{command}`)") if first.get("epochs") else ""
        # Not reached counts as slower than any reached: the median is "not reached" when
        # half the seeds or more did not get there.
        times = sorted(r["reached"] if r["reached"] is not None else math.inf for r in runs)
        median = statistics.median(times)
        seconds = ", ".join(f"{r['reached']} s" if r["reached"] is not None else "not reached"
                            for r in runs)
        curves = "; ".join(f"seed {r.get('seed')}: {r['curve']}" for r in runs)
        lines += ["", f"Time to 0.90 test accuracy, lenet5_fashion_mnist{budget}, seeds "
                      f"{', '.join(str(r.get('seed')) for r in runs)}: {seconds} of training, "
                      f"median {'not reached' if math.isinf(median) else f'{median:g} s'} "
                      f"(epoch, train s, test acc: {curves})."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()  # writes its own result file (--out)
