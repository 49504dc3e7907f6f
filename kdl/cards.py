"""Recipe cards: what a full run measured, written by the run itself.

``kdl train RECIPE --record`` saves the run's result to ``recipes/cards/RECIPE.json``;
``kdl cards`` writes the README's table from those files, beside the Fashion-MNIST
benchmark row of each recipe's family (Zalando's README). Nothing here is typed in.
"""

from __future__ import annotations

import json
import os
import time

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


def save_card(recipe, summary: dict, pretrain=None, command: str | None = None) -> str:
    from kdl.export import hardware

    os.makedirs(cards_dir(), exist_ok=True)
    hw = hardware()
    # The export path is the recording machine's (often a temporary directory): not kept.
    card = {
        **{k: v for k, v in summary.items() if k != "export_path"},
        "model": recipe.model,
        "data": recipe.data,
        "batch_size": recipe.batch_size,
        "epochs_requested": recipe.epochs,
        "machine": f"{hw.get('cpu', hw['machine'])}, {hw['cpu_count']} cores",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "command": command or f"kdl train {recipe.name} --record",
        "pretrain": pretrain,
    }
    path = os.path.join(cards_dir(), f"{recipe.name}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(card, f, indent=2, default=str)
    os.replace(tmp, path)
    return path


def load_card(name: str) -> dict | None:
    path = os.path.join(cards_dir(), f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


# Options of `kdl train` that change where things are written or how much is printed,
# not what is measured: left out of the command a card shows.
_OUTPUT_ONLY = {"--workdir": 1, "--export-dir": 1, "--json": 0, "--quiet": 0, "--no-export": 0}


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


def cards_table() -> str:
    from kdl.recipes import get_recipe, list_recipes

    lines = ["| recipe | test metric | epochs | wall time | target | Zalando row | met | machine | command |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in list_recipes():
        recipe = get_recipe(name)
        card = load_card(name)
        ref = ZALANDO.get(recipe.model)
        ref_text = f"{ref[0]} {ref[1]}" if ref and recipe.data == "fashion_mnist" else "-"
        lower = recipe.target_metric in ("loss", "mse", "mae")
        target = (f"{recipe.target_metric} {'<' if lower else '>'} {recipe.target}"
                  if recipe.target is not None else "-")
        if card is None:
            lines.append(f"| {name} | not yet run | - | - | {target} | {ref_text} | - | - | - |")
            continue
        value = card["test_metrics"].get(recipe.target_metric)
        met = {True: "yes", False: "**not yet met**", None: "-"}[card.get("target_met")]
        lines.append(
            f"| {name} | {recipe.target_metric} {value:.4f} | {card['epochs_run']} | "
            f"{card['wall_s'] / 60:.1f} min | {target} | {ref_text} | {met} | "
            f"{card['machine']} ({card['date']}) | `{shown_command(card['command'])}` |")
    lines.append(f"\nHuman performance on Fashion-MNIST (Zalando): {HUMAN}.")
    return "\n".join(lines)


def write_readme_cards(readme: str = "README.md") -> str:
    with open(readme) as f:
        text = f.read()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} markers. Received: readme={readme!r}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    with open(readme, "w") as f:
        f.write(f"{head}{START}\n{cards_table()}\n{END}{tail}")
    return readme
