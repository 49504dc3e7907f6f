"""``kdl list`` (recipes with their target and last measured result) and ``kdl cards``
(the recipe cards as a Markdown table). Neither imports TensorFlow."""

from __future__ import annotations

from kdl.cli.common import print_json, print_table


def add_parsers(sub) -> None:
    p = sub.add_parser("list", help="list the recipes, with target and last measured result")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_list)
    p = sub.add_parser("cards", help="print the recipe cards as a Markdown table")
    p.set_defaults(func=run_cards)


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
