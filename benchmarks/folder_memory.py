"""Peak memory of training from a folder of image files, against the data set's size.

Fashion-MNIST written as PNG files in Keras' layout (``train/<class>/*.png``,
``test/<class>/*.png``), once at a quarter of its size and once whole (60,000 + 10,000
files), then one epoch of ``kdl train lenet5_fashion_mnist --data folder:DIR`` on each, each
in a process of its own that reports its peak resident memory (``ru_maxrss``); and the same
epoch from the in-memory IDX arrays (``--data fashion_mnist``) for scale. The folder's
files are decoded in tf.data after the paths are shuffled, so its peak should not grow with
the number of files; the arrays' does (they are the data set).

    python -m benchmarks.folder_memory [--fractions 0.25,1.0] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks._common import subprocess_env, write_result

CHILD = ("import json, resource, sys, time\n"
         "from kdl.cli import main\n"
         "start = time.perf_counter()\n"
         "code = main(sys.argv[1:])\n"
         "print(json.dumps({'code': code, 'wall_s': time.perf_counter() - start,\n"
         "                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n")


def write_folder(root: str, fraction: float) -> dict:
    """Fashion-MNIST's first ``fraction`` of each split as PNG files under ``root``."""
    from PIL import Image

    from kdl.data import load_image_dataset

    ds = load_image_dataset("fashion_mnist", validation_fraction=0.0)
    counts = {}
    for split in ("train", "test"):
        x, y = ds.arrays[split]
        n = int(round(len(y) * fraction))
        for name in ds.class_names:
            os.makedirs(os.path.join(root, split, name.replace("/", "-")), exist_ok=True)
        for i in range(n):
            name = ds.class_names[int(y[i])].replace("/", "-")
            Image.fromarray(x[i, ..., 0]).save(os.path.join(root, split, name, f"{i:05d}.png"))
        counts[split] = n
    return counts


def one_epoch(data: str, workdir: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, "train", "lenet5_fashion_mnist", "--data",
                          data, "--epochs", "1", "--no-export", "--no-report", "--json",
                          "--quiet", "--workdir", workdir],
                         capture_output=True, text=True, env=subprocess_env(), timeout=3600)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or len(lines) < 2:
        raise SystemExit(f"the run on {data} failed: {out.stderr[-2000:]}")
    summary, usage = json.loads(lines[-2]), json.loads(lines[-1])
    return {"peak_rss_mb": round(usage["peak_rss_mb"], 1), "wall_s": round(usage["wall_s"], 1),
            "train_s": summary["train_s"], "accuracy": round(summary["test_metrics"]["accuracy"], 4)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fractions", default="0.25,1.0")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kdl-folder-") as tmp:
        for fraction in (float(f) for f in args.fractions.split(",")):
            root = os.path.join(tmp, f"fmnist-{fraction}")
            start = time.perf_counter()
            counts = write_folder(root, fraction)
            written = time.perf_counter() - start
            row = {"source": "folder", "fraction": fraction, "files": sum(counts.values()),
                   "train_files": counts["train"], "write_s": round(written, 1),
                   **one_epoch(f"folder:{root}", os.path.join(tmp, f"w-{fraction}"))}
            rows.append(row)
            print(json.dumps(row), flush=True)
        row = {"source": "idx arrays", "fraction": 1.0, "files": 4, "train_files": 54000,
               **one_epoch("fashion_mnist", os.path.join(tmp, "w-idx"))}
        rows.append(row)
        print(json.dumps(row), flush=True)
    folders = [r for r in rows if r["source"] == "folder"]
    growth = folders[-1]["peak_rss_mb"] / folders[0]["peak_rss_mb"] if len(folders) > 1 else None
    result = {"rows": rows, "peak_growth": round(growth, 3) if growth else None,
              "files_growth": round(folders[-1]["files"] / folders[0]["files"], 2)
              if len(folders) > 1 else None,
              "note": "one epoch of lenet5_fashion_mnist each, a process each; peak_rss_mb is "
                      "the process's ru_maxrss (TensorFlow and Keras included)"}
    path = write_result("folder_memory", result, argv=argv,
                        **({"out": args.out} if args.out else {}))
    print(path)
    return result


def markdown(result: dict) -> str:
    lines = ["| data | files | peak RSS (MB) | one epoch's training (s) | test accuracy |",
             "|---|---|---|---|---|"]
    for r in result["rows"]:
        what = f"folder of PNG files ({r['fraction']:.0%} of Fashion-MNIST)" \
            if r["source"] == "folder" else "Fashion-MNIST's IDX files, in memory"
        lines.append(f"| {what} | {r['files']:,} | {r['peak_rss_mb']:.0f} | {r['train_s']:.1f} | "
                     f"{r['accuracy']:.4f} |")
    if result.get("peak_growth"):
        lines.append("")
        lines.append(f"{result['files_growth']}x the files, {result['peak_growth']}x the peak memory.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
