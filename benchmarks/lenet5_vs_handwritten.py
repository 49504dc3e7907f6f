"""Process to process: `kdl train lenet5_fashion_mnist --epochs 4` against a hand-written
keras-io-style LeNet-5 script (``benchmarks/handwritten.py``: batch 128, Adam, 10%
validation, test evaluation), alternating, start-up and (for kdl) export included.

    python -m benchmarks.lenet5_vs_handwritten [--rounds 3] [--epochs 4]

The last line is JSON: each side's wall seconds (median) and test accuracy (median).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks._common import ROOT, subprocess_env


def run(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=subprocess_env())
    wall = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args(argv)
    kdl_bin = os.path.join(os.path.dirname(sys.executable), "kdl")
    rows = {"kdl": [], "handwritten": []}
    for i in range(args.rounds):
        tmp = tempfile.mkdtemp()
        order = ("kdl", "handwritten") if i % 2 == 0 else ("handwritten", "kdl")
        for side in order:
            if side == "kdl":
                wall, out = run([kdl_bin, "train", "lenet5_fashion_mnist", "--epochs",
                                 str(args.epochs), "--json", "--quiet", "--no-report", "--workdir",
                                 os.path.join(tmp, "w"), "--export-dir", os.path.join(tmp, "e")])
                acc = out["test_metrics"]["accuracy"]
            else:
                wall, out = run([sys.executable, "-m", "benchmarks.handwritten", "--epochs",
                                 str(args.epochs)])
                acc = out["test_accuracy"]
            rows[side].append((wall, acc))
            print(json.dumps({"round": i, "side": side, "wall_s": round(wall, 2),
                              "test_accuracy": round(acc, 4)}), flush=True)
    summary = {side: {"wall_s": round(statistics.median(w for w, _ in r), 2),
                      "test_accuracy": round(statistics.median(a for _, a in r), 4),
                      "runs": [(round(w, 2), round(a, 4)) for w, a in r]}
               for side, r in rows.items()}
    summary["wall_ratio_kdl_over_handwritten"] = round(
        summary["kdl"]["wall_s"] / summary["handwritten"]["wall_s"], 3)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("lenet5_vs_handwritten", main()))
