"""Recipe cards: what a full run measured, written by the run itself.

``kdl train RECIPE --record`` saves the run's result to ``recipes/cards/RECIPE.json`` (from
an installed package: ``./cards/RECIPE.json``, or ``$KDL_CARDS_DIR``);
:func:`cards_table` renders them, beside the Fashion-MNIST benchmark row of each recipe's
family (Zalando's README), for ``kdl cards`` and the docs (``make docs``). Nothing here
is typed in, and nothing here writes the README.
"""

from __future__ import annotations

import json
import os
import time

from typing import TYPE_CHECKING

from kdl._files import write_json
from kdl.engine.runs import aggregate_runs, check_can_add_seeds, recorded_before
from kdl.platform import hardware, machine_line
from kdl.card_store import cards_dir, installed, load_card, sha256_file, shipped_cards_dir  # noqa: F401
from kdl.recipes import get_recipe, list_recipes, target_text

if TYPE_CHECKING:
    from kdl.engine.seeds import SeedRuns

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


# The small carded models' weights ship with their card (kdl.models.get_model(NAME,
# weights="card:CARD")): at most this many parameters, 4 MB of float32.
MAX_SHIPPED_PARAMS = 1_000_000


def record(seed_runs: SeedRuns, command: str) -> str:
    """Write the card of what :func:`kdl.engine.train_seeds` ran, with the ``command`` that
    reruns it (the CLI's, without its output-only options); a small image model's weights
    (the first seed's, the exported one) beside it, named in the card."""
    import glob

    first = seed_runs.first
    weights = _write_weights(seed_runs)
    # The recipe as it ran (resolved for the strategy), with the seed it started from.
    path = save_card(first.recipe, seed_runs.runs, pretrain=first.pretrain_report,
                     command=command, provenance=first.provenance, weights=weights)
    # The card names its file now: the replaced card's, and any a killed record left, go.
    keep = weights["file"] if weights else None
    for stale in glob.glob(os.path.join(os.path.dirname(path), f"{first.recipe.name}-*.weights.h5")):
        if os.path.basename(stale) != keep:
            os.remove(stale)
    return path


def _write_weights(seed_runs: SeedRuns) -> dict | None:
    """The first seed's weights, as :func:`kdl.models._weights.build_card_model` builds
    the model, in a file named by their digest (a kill between the file and the card
    leaves the old card's file in place); None for a large or non-image model."""
    from kdl.export import input_stats
    from kdl.models._registry import get_model_builder
    from kdl.models._weights import build_card_model, transfer_weights
    from kdl.tasks import get_task

    first = seed_runs.first
    recipe, data = first.recipe, first.data
    task = get_task(recipe.task)
    front = task.weights_front(recipe)
    if front is None or first.model.count_params() > MAX_SHIPPED_PARAMS:
        return None
    classes = data.num_classes if task.classifier else None
    shape = {"input_shape": list(data.input_shape), "classes": classes, "front": front}
    model = build_card_model(recipe.to_dict(), shape, get_model_builder)
    report = transfer_weights(first.model, model)
    if report.new:
        raise RuntimeError(f"kdl bug: the card model of {recipe.name} lacks {report.new}")
    directory = cards_dir(recipe)
    os.makedirs(directory, exist_ok=True)
    scratch = os.path.join(directory, f".kdl-weights-{os.getpid()}.weights.h5")
    try:
        model.save_weights(scratch)
        digest = sha256_file(scratch)
        name = f"{recipe.name}-{digest[:12]}.weights.h5"
        os.replace(scratch, os.path.join(directory, name))
    finally:
        if os.path.exists(scratch):
            os.remove(scratch)
    return {"file": name, "sha256": digest, "bytes": os.path.getsize(os.path.join(directory, name)),
            **shape,
            "class_names": [str(c) for c in data.class_names] if task.classifier else None,
            "seed": seed_runs.runs[0]["seed"], "test_metrics": seed_runs.runs[0]["test_metrics"],
            "params": int(model.count_params()), "input_stats": input_stats(data),
            "test_time_flip": bool(recipe.test_time_flip)}


def save_card(recipe, runs, pretrain=None, command: str | None = None,
              provenance: dict | None = None, weights: dict | None = None) -> str:
    """Write ``recipes/cards/RECIPE.json`` from one run's summary or several seeds'
    (a list); the target is judged on the seeds' mean. ``provenance``: the first seed's
    record (:func:`kdl.platform.provenance`), kept in the card as it is."""
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
        "weights": weights,
    }
    return _write_card(recipe.name, card, recipe=recipe)


def _write_card(name: str, card: dict, replacing: bool = True, recipe=None) -> str:
    """Write ``name``'s card; with ``replacing``, the card it replaces goes into its
    ``history`` (newest last), so no run, however short, erases a measured result."""
    directory = cards_dir(recipe)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.json")
    previous = load_card(name, recipe) if replacing else None
    if previous is not None:
        card = {**card, "history": [*previous.pop("history", []), previous]}
    return write_json(path, card, default=str)  # the old card or the new one, never half


def add_seeds_to_card(name: str, runs: list[dict], record: dict,
                      command: str | None = None, recipe=None) -> dict:
    """Add ``runs`` (seeds' summaries, as :func:`save_card` takes them, run as ``record``
    says) to the card of recipe ``name``, after checking again that they may join it;
    the mean, spread and verdicts are recomputed over every seed. Returns the card."""
    card = load_card(name, recipe)
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
    _write_card(name, card, replacing=False, recipe=recipe)  # the same card, grown
    return card


# Recipe fields that do not change what a run measures, or that the card shows beside it:
# left out when a card's settings are checked against the recipe as it is now.
_NOT_SETTINGS = {"name", "description", "target", "target_reference", "target_metric",
                 "smoke_overrides", "seed", "deterministic", "jit_compile", "steps_per_execution"}


def settings_changed(card: dict, recipe) -> list[str] | None:
    """The recipe fields whose value now differs from the one the card was recorded with
    (a card of an earlier recipe, or of a run with ``--set``/``--epochs``); [] where they
    agree; None where the card kept no settings (recorded before cards kept them).
    ``precision="auto"`` and ``input_pipeline="auto"`` are resolved per machine when a run
    starts: not compared. A field the card does not name (added to kdl after it was
    recorded) is not a change while the recipe keeps its default, what the run did."""
    kept = card.get("config")
    if kept is None:
        return None
    now = json.loads(json.dumps(recipe.to_dict(), default=str))  # as the card keeps it
    before = recorded_before()
    return [key for key in sorted(set(kept) | set(now))
            if key not in _NOT_SETTINGS and now.get(key) != kept.get(key, before.get(key))
            and not (key in ("precision", "input_pipeline") and now.get(key) == "auto")]


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
    """The recipes and their cards as a Markdown table (``kdl cards``, the docs)."""
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
            f"`{card['command']}` |")
    lines.append("\n† Recorded before cards kept their settings: not checked against the "
                 "recipe as it is now.")
    lines.append(f"\nHuman performance on Fashion-MNIST (Zalando): {HUMAN}.")
    return "\n".join(lines)




def evaluate_weights(name: str) -> dict:
    """Card ``name``'s shipped weights on its recipe's test split, evaluated as the run was
    (test-time flip included): the numbers its ``weights.test_metrics`` should repeat."""
    from kdl.card_store import card_weights
    from kdl.engine.loop import loss_and_metrics, prepare_data
    from kdl.models import get_model
    from kdl.recipes import Recipe

    card, entry, _ = card_weights(name)
    recipe = Recipe.from_dict(card["config"])
    model = get_model(recipe.model, weights=f"card:{name}")
    if entry.get("test_time_flip"):
        from kdl.layers import with_test_time_flip

        model = with_test_time_flip(model)
    loss, metrics = loss_and_metrics(recipe)
    model.compile(loss=loss, metrics=metrics)
    data = prepare_data(recipe)
    return {k: float(v) for k, v in model.evaluate(data.test, verbose=0, return_dict=True).items()}
