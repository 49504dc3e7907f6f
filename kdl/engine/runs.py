"""Seeds' results as one: the mean with its spread, and whether seeds run apart may join
one card. Plain numbers and dicts: no Keras, so ``kdl list`` and the docs read cards fast."""

from __future__ import annotations

import json

import numpy as np

from kdl.recipes import Recipe, judge


def aggregate_runs(runs: list[dict]) -> dict:
    """Several seeds' summaries (``TrainResult.summary()`` plus ``seed`` and
    ``wall_s``) as one: each metric's mean and sample standard deviation, every seed's
    result, and the target judged on the mean (and, separately, on every seed). One run's
    ``test_metrics_std`` is None."""
    if not runs:
        raise ValueError("aggregate_runs needs at least one run. Received: runs=[]")
    first = runs[0]
    keys = [k for k in first["test_metrics"] if all(k in r["test_metrics"] for r in runs)]
    values = {k: np.array([r["test_metrics"][k] for r in runs], dtype="float64") for k in keys}
    mean = {k: float(v.mean()) for k, v in values.items()}
    # One seed has no spread: None, not a standard deviation of 0.
    std = {k: float(v.std(ddof=1)) for k, v in values.items()} if len(runs) > 1 else None
    metric, target = first.get("target_metric"), first.get("target")
    per_seed = [judge(metric, target, r["test_metrics"].get(metric)) for r in runs]
    return {
        "recipe": first["recipe"],
        "epochs_run": int(round(float(np.mean([r["epochs_run"] for r in runs])))),
        "test_metrics": mean,
        "test_metrics_std": std,
        "n_seeds": len(runs),
        "seeds": [{k: r.get(k) for k in ("seed", "test_metrics", "epochs_run", "wall_s",
                                         "train_s", "target_met")} for r in runs],
        "wall_s": round(float(np.mean([r["wall_s"] for r in runs])), 2),  # per seed
        "train_s": round(float(np.mean([r.get("train_s", 0.0) for r in runs])), 2),
        "params": first.get("params"),
        "target_metric": metric,
        "target": target,
        "target_met": judge(metric, target, mean.get(metric)),
        "target_met_every_seed": None if None in per_seed else all(per_seed),
    }


# What seeds recorded apart must share to join one card, besides the configuration.
_SET_UP = ("backend", "versions", "machine")


def recorded_before() -> dict:
    """What a card recorded before a field existed ran with: the field's default (as a
    card keeps it), and for ``input_pipeline`` tf.data, the only pipeline there was."""
    defaults = json.loads(json.dumps(Recipe(name="-", model="-").to_dict(), default=str))
    return {**defaults, "input_pipeline": "tf.data"}


def check_can_add_seeds(card: dict | None, name: str, record: dict | None = None) -> None:
    """Raise ValueError (one line) unless seeds run as ``record`` says (kdl.provenance's
    record of the resolved recipe) may join ``card``: the same configuration apart from
    the seed, backend, versions and machine. Without ``record``, only that the card
    exists and keeps what the check needs."""
    if card is None:
        raise ValueError(f"{name} has no card to add seeds to; record one first (kdl train "
                         f"{name} --record). Received: --add-seeds")
    if "config" not in card:
        raise ValueError(f"the card of {name} keeps no configuration (it was recorded before "
                         f"cards kept one), so no seed can be checked against it; record it "
                         f"anew with --record --seeds N. Received: --add-seeds")
    if record is None:
        return
    config = json.loads(json.dumps(record["config"], default=str))  # as the card keeps it
    kept = {**recorded_before(), **card["config"]}
    differ = [f"{k}={config.get(k)!r} (card: {kept.get(k)!r})"
              for k in sorted(set(kept) | set(config))
              if k != "seed" and config.get(k) != kept.get(k)]
    differ += [f"{k} {record.get(k)!r} (card: {card.get(k)!r})"
               for k in _SET_UP if record.get(k) != card.get(k)]
    # The same data spec can name other data (a folder's files changed): its digest.
    mine = (record.get("data_fingerprint") or {}).get("digest")
    theirs = (card.get("data_fingerprint") or {}).get("digest")
    if mine and theirs and mine != theirs:
        differ.append(f"data digest {mine[:12]} (card: {theirs[:12]}: another data set)")
    if differ:
        raise ValueError(f"the card of {name} was recorded with another set-up, and one mean "
                         f"over two set-ups would mean nothing; --record alone replaces the "
                         f"card. Received: {', '.join(differ)}")
