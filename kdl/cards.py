"""Recipe cards: what a full run measured, written by the run itself.

``kdl train RECIPE --record`` saves the run's result to ``recipes/cards/RECIPE.json``;
``kdl cards`` writes the README's table from those files, beside the Fashion-MNIST
benchmark row of each recipe's family (Zalando's README). Nothing here is typed in.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

START, END = "<!-- cards:start -->", "<!-- cards:end -->"

# Zalando's Fashion-MNIST benchmark rows (github.com/zalandoresearch/fashion-mnist README).
ZALANDO = {
    "mlp": ("MLP 256-128-100", 0.8833),
    "lenet5": ("2 Conv+pooling", 0.916),
    "alexnet": ("AlexNet", 0.899),
    "vgg16": ("VGG16", 0.935),
    "resnet18": ("ResNet18", 0.949),
    "resnet20": ("ResNet18", 0.949),
    "stacked_denoising_autoencoder": ("MLP 256-128-100", 0.8833),
}
HUMAN = 0.835


def cards_dir() -> str:
    import kdl._recipes

    return os.path.join(os.path.dirname(kdl._recipes.__file__), "cards")


def _lower_is_better(metric: str) -> bool:
    return metric in ("loss", "mse", "mae")


def judge(target_metric: str, target: float | None, value: float | None) -> bool | None:
    """Whether ``value`` meets ``target``: at least the target, or for losses at most; None
    if either is missing. Compared in float32, the precision Keras computes metrics in:
    9,000 right of 10,000 reads as 0.8999999762 and meets a target of 0.9."""
    if target is None or value is None:
        return None
    value, target = np.float32(value), np.float32(target)
    return bool(value <= target) if _lower_is_better(target_metric) else bool(value >= target)


def target_text(target_metric: str, target: float) -> str:
    """The target as the tables print it, e.g. ``accuracy >= 0.916``."""
    return f"{target_metric} {'<=' if _lower_is_better(target_metric) else '>='} {target}"


def aggregate_runs(runs: list[dict]) -> dict:
    """Several seeds' summaries (``kdl.training.TrainResult.summary()`` plus ``seed`` and
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


def save_card(recipe, runs, pretrain=None, command: str | None = None,
              provenance: dict | None = None) -> str:
    """Write ``recipes/cards/RECIPE.json`` from one run's summary or several seeds'
    (a list); the target is judged on the seeds' mean. ``provenance``: the first seed's
    record (:mod:`kdl.provenance`), kept in the card as it is."""
    from kdl.provenance import hardware, machine_line

    if isinstance(runs, dict):
        runs = [{"seed": recipe.seed, **runs}]
    summary = aggregate_runs(runs)
    if provenance is None:
        hw = hardware()
        provenance = {"hardware": hw, "machine": machine_line(hw)}
    # The export path is the recording machine's (often a temporary directory): not kept.
    card = {
        **{k: v for k, v in summary.items() if k != "export_path"},
        **provenance,
        "model": recipe.model,
        "data": recipe.data,
        "batch_size": recipe.batch_size,
        "epochs_requested": recipe.epochs,
        "early_stopping": recipe.early_stopping_mode(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "command": command or f"kdl train {recipe.name} --record",
        "pretrain": pretrain,
    }
    return _write_card(recipe.name, card)


def _write_card(name: str, card: dict) -> str:
    os.makedirs(cards_dir(), exist_ok=True)
    path = os.path.join(cards_dir(), f"{name}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(card, f, indent=2, default=str)
    os.replace(tmp, path)  # a reader sees the old card or the new one, never half of one
    return path


# What seeds recorded apart must share to join one card, besides the configuration.
_SET_UP = ("backend", "versions", "machine")


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
    differ = [f"{k}={config.get(k)!r} (card: {card['config'].get(k)!r})"
              for k in sorted(set(card["config"]) | set(config))
              if k != "seed" and config.get(k) != card["config"].get(k)]
    differ += [f"{k} {record.get(k)!r} (card: {card.get(k)!r})"
               for k in _SET_UP if record.get(k) != card.get(k)]
    if differ:
        raise ValueError(f"the card of {name} was recorded with another set-up, and one mean "
                         f"over two set-ups would mean nothing; --record alone replaces the "
                         f"card. Received: {', '.join(differ)}")


def add_seeds_to_card(name: str, runs: list[dict], record: dict,
                      command: str | None = None) -> dict:
    """Add ``runs`` (seeds' summaries, as :func:`save_card` takes them, run as ``record``
    says) to the card of recipe ``name``, after checking again that they may join it;
    the mean, spread and verdicts are recomputed over every seed. Returns the card."""
    card = load_card(name)
    check_can_add_seeds(card, name, record)
    taken = sorted({s["seed"] for s in card["seeds"]} & {r["seed"] for r in runs})
    if taken:
        raise ValueError(f"the card of {name} already holds seed {taken[0]}. Received: seeds "
                         f"{[r['seed'] for r in runs]}")
    same = {k: card.get(k) for k in ("recipe", "params", "target_metric", "target")}
    summary = aggregate_runs([{**same, **s} for s in card["seeds"]] + list(runs))
    card.update(summary)
    card["date"] = time.strftime("%Y-%m-%d", time.gmtime())
    if command:
        card["command"] = f"{card['command']}; {command}"
    _write_card(name, card)
    return card


def load_card(name: str) -> dict | None:
    path = os.path.join(cards_dir(), f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


# Options of `kdl train` that change where things are written or how much is printed,
# not what is measured: left out of the command a card shows.
_OUTPUT_ONLY = {"--workdir": 1, "--export-dir": 1, "--json": 0, "--quiet": 0, "--no-export": 0,
                "--no-report": 0, "--verbose": 0}


# Recipe fields that do not change what a run measures, or that the card shows beside it:
# left out when a card's settings are checked against the recipe as it is now.
_NOT_SETTINGS = {"name", "description", "target", "target_reference", "target_metric",
                 "smoke_overrides", "seed", "deterministic", "jit_compile", "steps_per_execution"}


def settings_changed(card: dict, recipe) -> list[str] | None:
    """The recipe fields whose value now differs from the one the card was recorded with
    (a card of an earlier recipe, or of a run with ``--set``/``--epochs``); [] where they
    agree; None where the card kept no settings (recorded before cards kept them).
    ``precision="auto"`` is resolved per machine when a run starts: not compared."""
    kept = card.get("config")
    if kept is None:
        return None
    now = json.loads(json.dumps(recipe.to_dict(), default=str))  # as the card keeps it
    return [key for key in sorted(set(kept) | set(now))
            if key not in _NOT_SETTINGS and now.get(key) != kept.get(key)
            and not (key == "precision" and now.get(key) == "auto")]


def shown_command(command: str) -> str:
    """``command`` without the output-only options, as a reader would rerun it."""
    words, kept, i = command.split(), [], 0
    while i < len(words):
        name = words[i].split("=", 1)[0]
        if name in _OUTPUT_ONLY:
            i += 1 + (_OUTPUT_ONLY[name] if "=" not in words[i] else 0)
            continue
        kept.append(words[i])
        i += 1
    return " ".join(kept)


def metric_text(card: dict, metric: str) -> str:
    """``accuracy 0.9190 ± 0.0012 (n=5)``: the seeds' mean, sample std and count."""
    value = card["test_metrics"].get(metric)
    if value is None:
        return "-"
    n = card.get("n_seeds", 1)
    std = (card.get("test_metrics_std") or {}).get(metric, 0.0)
    return f"{metric} {value:.4f} ± {std:.4f} (n={n})" if n > 1 else f"{metric} {value:.4f} (n=1)"


def epochs_text(card: dict) -> str:
    epochs = sorted({s["epochs_run"] for s in card.get("seeds") or []}) or [card["epochs_run"]]
    return str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}-{epochs[-1]}"


def cards_table() -> str:
    from kdl.recipes import get_recipe, list_recipes

    lines = ["| recipe | test metric (mean ± std, seeds) | epochs | wall time per seed | target | "
             "Zalando row | met | machine | command |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in list_recipes():
        recipe = get_recipe(name)
        card = load_card(name)
        ref = ZALANDO.get(recipe.model)
        ref_text = f"{ref[0]} {ref[1]}" if ref and recipe.data == "fashion_mnist" else "-"
        target = (target_text(recipe.target_metric, recipe.target)
                  if recipe.target is not None else "-")
        if card is None:
            lines.append(f"| {name} | not yet run | - | - | {target} | {ref_text} | - | - | - |")
            continue
        met = {True: "yes", False: "**not yet met**", None: "-"}[card.get("target_met")]
        if card.get("target_met") and card.get("target_met_every_seed") is False:
            met = "yes (mean; not every seed)"
        changed = settings_changed(card, recipe)
        if changed:
            met += f" (recorded with other settings: {', '.join(changed)})"
        unchecked = " †" if changed is None else ""
        lines.append(
            f"| {name} | {metric_text(card, recipe.target_metric)} | {epochs_text(card)} | "
            f"{card['wall_s'] / 60:.1f} min | {target} | {ref_text} | {met} | "
            f"{card['machine']} ({card['date']}){unchecked} | "
            f"`{shown_command(card['command'])}` |")
    lines.append("\n† Recorded before cards kept their settings: not checked against the "
                 "recipe as it is now.")
    lines.append(f"\nHuman performance on Fashion-MNIST (Zalando): {HUMAN}.")
    return "\n".join(lines)


def replace_section(readme: str, start: str, end: str, body: str) -> str:
    """Replace what lies between the ``start`` and ``end`` markers of ``readme`` with ``body``."""
    with open(readme) as f:
        text = f.read()
    if start not in text or end not in text:
        raise ValueError(f"{readme} has no {start} ... {end} markers. Received: readme={readme!r}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(readme, "w") as f:
        f.write(f"{head}{start}\n{body}\n{end}{tail}")
    return readme


def write_readme_cards(readme: str = "README.md") -> str:
    return replace_section(readme, START, END, cards_table())
