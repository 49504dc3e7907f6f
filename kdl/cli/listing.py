"""``kdl list`` (recipes with their target and last measured result), ``kdl cards`` (the
recipe cards as a Markdown table) and ``kdl weights`` (the cards whose weights ship). None
imports TensorFlow."""

from __future__ import annotations

from kdl.cli.common import print_json, print_table


def add_parsers(sub) -> None:
    p = sub.add_parser("list", help="list the recipes, with target and last measured result")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_list)
    p = sub.add_parser("cards", help="print the recipe cards as a Markdown table")
    p.set_defaults(func=run_cards)
    p = sub.add_parser("weights", help="list the cards whose trained weights ship with kdl "
                                       "(get_model(NAME, weights='card:CARD'), kdl predict --card)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_weights)


def run_list(args) -> int:
    from kdl.cards import epochs_text, load_card, metric_text, settings_changed
    from kdl.recipes import get_recipe, list_recipes, target_text

    rows = []
    for name in list_recipes(args.pattern):
        r = get_recipe(name)
        card = load_card(name)
        last = "-"
        if card:
            met = {True: "met", False: "not met", None: "-"}[card.get("target_met")]
            last = (f"{metric_text(card, r.target_metric)}, {epochs_text(card)} ep, "
                    f"{card['wall_s'] / 60:.1f} min, {met}")
            changed = settings_changed(card, r)
            if changed:
                last += f", other settings: {', '.join(changed)}"
        rows.append({"recipe": name, "model": r.model, "data": r.data,
                     "target": target_text(r.target_metric, r.target)
                     if r.target is not None else "-", "last_result": last})
    print_json(rows) if args.json else print_table(rows)
    return 0


def run_cards(args) -> int:
    from kdl.cards import cards_table

    print(cards_table())
    return 0


def run_weights(args) -> int:
    from kdl.card_store import cards_with_weights, load_card

    rows = []
    for name, entry in cards_with_weights():
        card = load_card(name)
        metric = card.get("target_metric", "accuracy")
        value = entry["test_metrics"].get(metric)
        rows.append({"card": name, "model": card["config"]["model"], "params": entry["params"],
                     "input": "x".join(map(str, entry["input_shape"])),
                     "seed": entry["seed"],
                     "test": f"{metric} {value:.4f}" if value is not None else "-",
                     "file": entry["file"], "sha256": entry["sha256"][:16],
                     "machine": card.get("machine", "-")})
    print_json(rows) if args.json else print_table(rows)
    return 0
