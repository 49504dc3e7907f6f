"""tf.data against Keras' PyDataset (kdl.data.feed) as the feed of JAX and PyTorch, where both run.

Where TensorFlow is absent, ``kdl train`` feeds through :class:`kdl.data.ArrayFeed`
(``input_pipeline="pydataset"``); where it is installed, tf.data ("auto"). This trains
LeNet-5's recipe (flips, batch 128) as ``kdl train`` does, once per backend and pipeline,
taking turns ``--rounds`` times, and reports images/s over the epochs after the first
(which compiles), from each run's result.json.

    python -m benchmarks.feed [--rounds 2] [--epochs 3] [--examples 12288]

Writes ``benchmarks/results/feed-MACHINE.json``; docs: backends. Reports, never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from benchmarks._common import subprocess_env, write_result

RECIPE = "lenet5_fashion_mnist"
PIPELINES = ("tf.data", "pydataset")


def run_once(backend: str, pipeline: str, epochs: int, examples: int) -> float:
    """Images/s of one ``kdl train`` run: the training examples over the median of its
    epochs after the first."""
    with tempfile.TemporaryDirectory() as workdir:
        out = subprocess.run(
            [sys.executable, "-m", "kdl.cli", "train", RECIPE, "--backend", backend, "--epochs",
             str(epochs), "--set", f"max_train_examples={examples}", "--set",
             "max_test_examples=1024", "--set", f"input_pipeline={pipeline}", "--set",
             "early_stopping_patience=100", "--no-export", "--no-report", "--quiet", "--json",
             "--workdir", workdir], env=subprocess_env(CUDA_VISIBLE_DEVICES=""),
            capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            raise RuntimeError(f"{backend} {pipeline}: {out.stderr.strip().splitlines()[-1:]}")
        with open(os.path.join(workdir, "result.json")) as f:
            seconds = json.load(f)["epoch_seconds"][1:]
    return examples / statistics.median(seconds)


def measure(rounds: int, epochs: int, examples: int, backends=("jax", "torch")) -> dict:
    rates: dict = {b: {p: [] for p in PIPELINES} for b in backends}
    for _ in range(rounds):
        for backend in backends:
            for pipeline in PIPELINES:
                rates[backend][pipeline].append(run_once(backend, pipeline, epochs, examples))
    rows = [{"backend": b, **{f"{p} img/s": round(statistics.median(rates[b][p]))
                               for p in PIPELINES},
             "pydataset / tf.data": round(statistics.median(rates[b]["pydataset"])
                                          / statistics.median(rates[b]["tf.data"]), 2),
             "runs": rates[b]} for b in backends]
    return {"recipe": RECIPE, "rounds": rounds, "epochs": epochs, "examples": examples,
            "rows": rows}


def markdown(result: dict) -> str:
    lines = [f"{result['recipe']}, {result['examples']} training images, {result['epochs']} "
             f"epochs a run (the first, compiling, left out), {result['rounds']} round(s) "
             f"taking turns; median images/s:", "",
             "| backend | tf.data img/s | PyDataset img/s | PyDataset / tf.data |",
             "|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['backend']} | {row['tf.data img/s']} | {row['pydataset img/s']} "
                     f"| {row['pydataset / tf.data']} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--examples", type=int, default=12288)
    args = parser.parse_args(argv)
    result = measure(args.rounds, args.epochs, args.examples)
    print(markdown(result))
    print(write_result("feed", result, argv=argv))
    return result


if __name__ == "__main__":
    main()
