"""Training throughput of every Fashion-MNIST recipe on Keras' three backends, in one run.

Each recipe trains as ``kdl train`` trains it (its tf.data pipeline and augmentation, its
model, optimizer and precision; on PyTorch one step per execution, as kdl resolves it),
timed the way ``make bench`` times it: images/s, the median of timed windows after a
warm-up that covers compilation. One process per backend; the backends take turns,
``--rounds`` times, so that this VM's drifts in speed fall on all of them alike.

    python -m benchmarks.backends [--rounds 2] [--quick | --recipes mlp_fashion_mnist,...]
    KERAS_BACKEND=jax python -m benchmarks.backends --one mlp_fashion_mnist,...

Writes ``benchmarks/results/backends-MACHINE.json`` (a run of some recipes replaces their
rows and keeps the others measured on this machine with these versions); ``make bench``
runs ``--quick`` (the small recipes: the large ones on JAX take well over ten minutes on
a 2-core CPU), which writes ``backends-quick-MACHINE.json``. Benchmarks report; they
never assert a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks._common import result_path, subprocess_env, write_result

BACKENDS = ("tensorflow", "jax", "torch")
# Steps per timed window: a few seconds each at this CPU's rates (make bench's rates).
STEPS = {"mlp_fashion_mnist": 400, "lenet5_fashion_mnist": 160,
         "autoencoder_fashion_mnist": 200, "sdae_fashion_mnist": 400,
         "resnet20_fashion_mnist": 16, "alexnet_fashion_mnist": 8,
         "resnet18_fashion_mnist": 8, "vgg16_fashion_mnist": 3, "vit_tiny_fashion_mnist": 6}


def one(names: list[str], windows: int) -> dict:
    """Images/s of each recipe on this process' Keras backend."""
    import keras
    import tensorflow as tf

    from benchmarks import run_all
    from kdl.recipes import get_recipe
    from kdl.engine.resolve import resolve_for_strategy
    from kdl.platform import set_precision

    out = {"backend": keras.backend.backend()}
    for name in names:
        recipe = resolve_for_strategy(get_recipe(name), tf.distribute.get_strategy())
        spe = recipe.steps_per_execution
        steps = max(spe, STEPS[name] // spe * spe)
        set_precision(recipe.precision)
        try:
            rate, _, _ = run_all.kdl_throughput(recipe, windows, steps, 2 * spe + 2)
        finally:
            set_precision("float32")
        out[name] = round(rate)
        print(json.dumps({"backend": out["backend"], name: out[name]}), file=sys.stderr,
              flush=True)
    return out


QUICK = ("mlp_fashion_mnist", "lenet5_fashion_mnist", "autoencoder_fashion_mnist",
         "sdae_fashion_mnist")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", metavar="RECIPES", help="measure on this process' backend")
    parser.add_argument("--recipes", default=",".join(STEPS))
    parser.add_argument("--quick", action="store_true",
                        help=f"the small recipes only ({', '.join(QUICK)})")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--windows", type=int, default=3)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one.split(","), args.windows)))
        return {}
    names = list(QUICK) if args.quick else args.recipes.split(",")
    unknown = sorted(set(names) - set(STEPS))
    if unknown:
        parser.error(f"no throughput settings for {', '.join(unknown)}. Received: --recipes "
                     f"{args.recipes}")
    rates = {b: {n: [] for n in names} for b in BACKENDS}
    start = time.perf_counter()
    for _ in range(args.rounds):
        for backend in BACKENDS:
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
            proc = subprocess.run([sys.executable, "-m", "benchmarks.backends", "--one",
                                   ",".join(names), "--windows", str(args.windows)],
                                  env=subprocess_env(**env), capture_output=True, text=True)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                sys.exit(f"backends.py: {backend} failed: {last}")
            measured = json.loads(proc.stdout.strip().splitlines()[-1])
            for n in names:
                rates[backend][n].append(measured[n])
            print(json.dumps(measured), flush=True)
    from kdl.platform import hardware, machine_line, versions

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = {n: {"images_per_s": {b: statistics.median(rates[b][n]) for b in BACKENDS},
                "runs": {b: rates[b][n] for b in BACKENDS}, "measured_at": when,
                "rounds": args.rounds, "windows": args.windows,
                "seconds": round(time.perf_counter() - start)} for n in names}
    machine, variant = machine_line(hardware()), "quick" if args.quick else ""
    results = merge(result_path("backends", machine, variant), rows, machine,
                    versions(all_backends=True))
    print(write_result("backends", results, variant=variant, argv=argv))
    print(markdown(results))
    return results


def merge(path: str, rows: dict, machine: str, versions: dict) -> dict:
    """The saved results with ``rows`` replacing those recipes' rows, so that recipes can be
    measured in separate runs. Rows from another machine or other versions are dropped."""
    results = {"machine": machine, "versions": versions, "recipes": {}}
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        if saved.get("machine") == machine and saved.get("versions") == versions:
            results["recipes"] = saved.get("recipes", {})
    results["recipes"].update(rows)
    results["recipes"] = {n: results["recipes"][n] for n in STEPS if n in results["recipes"]}
    return results


def markdown(results) -> str:
    v = results["versions"]
    rows = results["recipes"]
    runs = sorted({(r["measured_at"], r["rounds"], r["windows"]) for r in rows.values()})
    when = "; ".join(f"{w} ({r} round(s) x {n} windows)" for w, r, n in runs)
    lines = [f"Machine: {results['machine']}; Keras {v['keras']}, TensorFlow {v['tensorflow']}, "
             f"JAX {v['jax']}, PyTorch {v['torch']}; measured {when}; images/s, median of the "
             "timed windows (`python -m benchmarks.backends`).", "",
             "| recipe | TensorFlow img/s | JAX img/s | PyTorch img/s | fastest | JAX / TF | "
             "PyTorch / TF |",
             "|---|---|---|---|---|---|---|"]
    names = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
    for recipe, row in rows.items():
        r = row["images_per_s"]
        fastest = max(BACKENDS, key=lambda b: r[b])
        lines.append(f"| {recipe} | {r['tensorflow']:.0f} | {r['jax']:.0f} | {r['torch']:.0f} | "
                     f"{names[fastest]} | {r['jax'] / r['tensorflow']:.2f} | "
                     f"{r['torch'] / r['tensorflow']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()  # writes its own result file: a run of some recipes keeps the others' rows
