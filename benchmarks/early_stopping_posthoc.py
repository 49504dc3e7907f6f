"""What early stopping would have done to a finished run, read from its ``history.csv``.

Keras' ``EarlyStopping(monitor, patience, restore_best_weights=True)`` rule replayed on the
run's per-epoch validation numbers: the epoch it would have stopped at, the epoch whose
weights it would have kept, and the validation accuracy there against the run's last
epoch. It is how kdl checked its choice (no stopping under a decaying schedule) on a
large recipe without a second run.

    python -m benchmarks.early_stopping_posthoc runs/resnet20_fashion_mnist \\
        [--monitor val_loss] [--patience 8]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os


def replay(rows: list[dict], monitor: str, patience: int) -> dict:
    """Keras' EarlyStopping rule (min_delta 0) over ``rows`` (one dict per epoch)."""
    lower = "loss" in monitor
    best, best_epoch, wait, stopped = None, 0, 0, None
    for epoch, row in enumerate(rows):
        value = float(row[monitor])
        if best is None or (value < best if lower else value > best):
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                stopped = epoch
                break
    last = len(rows) - 1
    kept = best_epoch if stopped is not None else last  # Keras restores only when it stops
    accuracy = "val_accuracy" if "val_accuracy" in rows[0] else None
    return {"epochs": len(rows), "monitor": monitor, "patience": patience,
            "stopped_at_epoch": None if stopped is None else stopped + 1,
            "kept_epoch": kept + 1,
            "kept_val_accuracy": float(rows[kept][accuracy]) if accuracy else None,
            "last_val_accuracy": float(rows[last][accuracy]) if accuracy else None}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir")
    parser.add_argument("--monitor", default="val_loss")
    parser.add_argument("--patience", type=int, default=8)
    args = parser.parse_args(argv)
    path = os.path.join(args.workdir, "history.csv")
    if not os.path.exists(path):
        parser.error(f"no history.csv in the workdir. Received: {args.workdir}")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows or args.monitor not in rows[0]:
        parser.error(f"history.csv has no column {args.monitor!r}. Received: --monitor "
                     f"{args.monitor}")
    result = replay(rows, args.monitor, args.patience)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("early_stopping_posthoc", main()))
