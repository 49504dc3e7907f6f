"""Fine-tuning LeNet-5 from its shipped Fashion-MNIST weights against training it from
scratch, on a few labelled images per class of another data set: scikit-learn's handwritten
digits (the real 8x8 scans, written as PNG files and read back through ``folder:``).

For each number of labels per class and each seed, one training folder (that many images
of each digit, drawn by the seed) and one fixed test folder (the same 50 images of each
digit for every run); then, on the same folder, LeNet-5's recipe three ways, everything
else equal (its normalization, optimizer and schedule; no weight averaging, which a few
dozen steps cannot fill; no flips, since a mirrored digit is another symbol):

- ``scratch``: He-initialized, as ``kdl train lenet5_fashion_mnist`` starts;
- ``fine-tune``: ``init_from=card:lenet5_fashion_mnist``, every layer trained (a new head:
  other classes);
- ``fine-tune, rate / 10``: the same at a tenth of the recipe's learning rate, as
  fine-tuning usually is (the loaded features moved less);
- ``head, then all``: the same as ``fine-tune``, ``freeze=backbone`` for the first half of
  the epochs, then everything.

The gain is the paired difference (same seed, same images) against scratch, its mean with
a 95% t-interval over the seeds.

    python -m benchmarks.finetune_digits [--labels 5,20] [--seeds 5] [--epochs 40]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import numpy as np

from benchmarks._common import write_result

TEST_PER_CLASS = 50
ARMS = {
    "scratch": [],
    "fine-tune": ["init_from=card:lenet5_fashion_mnist"],
    "fine-tune, rate / 10": ["init_from=card:lenet5_fashion_mnist", "learning_rate=4e-4"],
    "head, then all": ["init_from=card:lenet5_fashion_mnist", "freeze='backbone'"],
}


def write_digits(root: str, labels_per_class: int, seed: int) -> None:
    """``root/train`` (``labels_per_class`` images of each digit, drawn by ``seed``) and
    ``root/test`` (the last ``TEST_PER_CLASS`` of each digit, the same for every seed)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    for label in range(10):
        members = np.flatnonzero(digits.target == label)
        test, pool = members[-TEST_PER_CLASS:], members[:-TEST_PER_CLASS]
        chosen = rng.choice(pool, labels_per_class, replace=False)
        for split, indices in (("train", chosen), ("test", test)):
            folder = os.path.join(root, split, str(label))
            os.makedirs(folder, exist_ok=True)
            for i in indices:
                pixels = (digits.images[i] * 16).clip(0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(os.path.join(folder, f"{i}.png"))


def run_arm(folder: str, arm: str, seed: int, epochs: int, workdir: str) -> float:
    from kdl.engine import resolve_recipe, train_and_evaluate

    settings = [f"data='folder:{folder}'", f"seed={seed}", f"epochs={epochs}", "ema=None",
                "batch_size=32", "validation_fraction=0.2", "test_time_flip=False", "augmentation={}",
                "monitor_activations=False", *ARMS[arm]]
    if arm == "head, then all":
        settings.append(f"unfreeze_epoch={epochs // 2}")
    recipe = resolve_recipe("lenet5_fashion_mnist", overrides=settings)
    result = train_and_evaluate(recipe, workdir, verbose=0)
    return float(result.test_metrics["accuracy"])


def interval(diffs) -> dict:
    from scipy import stats

    diffs = np.asarray(diffs, dtype="float64")
    mean = float(diffs.mean())
    if len(diffs) < 2:
        return {"mean": mean, "low": None, "high": None}
    half = float(stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs)))
    return {"mean": round(mean, 4), "low": round(mean - half, 4), "high": round(mean + half, 4)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", default="5,20", help="labelled images per class")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kdl-finetune-") as tmp:
        for k in (int(v) for v in args.labels.split(",")):
            for seed in range(args.seeds):
                folder = os.path.join(tmp, f"digits-{k}-{seed}")
                write_digits(folder, k, seed)
                for arm in ARMS:
                    accuracy = run_arm(folder, arm, seed, args.epochs,
                                       os.path.join(tmp, f"w-{k}-{seed}-{len(rows)}"))
                    rows.append({"labels_per_class": k, "seed": seed, "arm": arm,
                                 "test_accuracy": round(accuracy, 4)})
                    print(json.dumps(rows[-1]), flush=True)
    summary = []
    for k in sorted({r["labels_per_class"] for r in rows}):
        scratch = {r["seed"]: r["test_accuracy"] for r in rows
                   if r["labels_per_class"] == k and r["arm"] == "scratch"}
        for arm in ARMS:
            accs = {r["seed"]: r["test_accuracy"] for r in rows
                    if r["labels_per_class"] == k and r["arm"] == arm}
            values = np.array(list(accs.values()))
            entry = {"labels_per_class": k, "arm": arm, "mean": round(float(values.mean()), 4),
                     "std": round(float(values.std(ddof=1)), 4) if len(values) > 1 else None,
                     "n": len(values)}
            if arm != "scratch":
                entry["gain"] = interval([accs[s] - scratch[s] for s in accs])
            summary.append(entry)
    result = {"rows": rows, "summary": summary, "epochs": args.epochs,
              "test_images": TEST_PER_CLASS * 10, "confidence": 0.95}
    path = write_result("finetune_digits", result, argv=argv,
                        **({"out": args.out} if args.out else {}))
    print(path)
    return result


def markdown(result: dict) -> str:
    lines = ["| labels per class | start | test accuracy (mean ± std, n) | gain over scratch "
             "(mean, 95% interval) |", "|---|---|---|---|"]
    for s in result["summary"]:
        gain = s.get("gain")
        gain_text = "-" if gain is None else (
            f"{gain['mean']:+.4f}" + (f" [{gain['low']:+.4f}, {gain['high']:+.4f}]"
                                      if gain["low"] is not None else ""))
        spread = f" ± {s['std']:.4f}" if s["std"] is not None else ""
        lines.append(f"| {s['labels_per_class']} | {s['arm']} | {s['mean']:.4f}{spread} "
                     f"(n={s['n']}) | {gain_text} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
