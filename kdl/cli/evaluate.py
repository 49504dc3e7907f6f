"""``kdl evaluate`` and ``kdl export``: a trained workdir's model on the test split, or
exported as a SavedModel."""

from __future__ import annotations

import json
import os

from kdl.cli.common import (add_format_arg, add_recipe_args, check_formats, load_workdir_model,
                            print_json, resolve_recipe, workdir_for)


def add_parsers(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained workdir model on the test split")
    add_recipe_args(p, training=False)
    p.set_defaults(func=run_evaluate)
    p = sub.add_parser("export", help="export a trained workdir model as a SavedModel")
    add_recipe_args(p, training=False)
    p.add_argument("--export-dir", default="saved_models")
    add_format_arg(p)
    p.set_defaults(func=run_export)


def run_evaluate(args) -> int:
    from kdl.engine.loop import prepare_data

    recipe = resolve_recipe(args)
    from kdl.engine.resolve import check_data

    check_data(recipe)
    model = load_workdir_model(args, recipe)
    data = prepare_data(recipe)
    metrics = {k: float(v) for k, v in model.evaluate(data.test, verbose=0,
                                                      return_dict=True).items()}
    out = {"recipe": recipe.name, "test_metrics": metrics}
    print_json(out) if args.json else print(out)
    return 0


def run_export(args) -> int:
    from kdl.engine.loop import prepare_data
    from kdl.export import export_run

    recipe = resolve_recipe(args)
    from kdl.engine.resolve import check_data

    check_data(recipe)
    formats = check_formats(args)
    model = load_workdir_model(args, recipe)
    result_path = os.path.join(workdir_for(args, recipe), "result.json")
    summary = {}
    if os.path.exists(result_path):
        with open(result_path) as f:
            summary = json.load(f)
    path = export_run(model, recipe, args.export_dir, summary, prepare_data(recipe),
                      formats=formats)
    print_json({"recipe": recipe.name, "export_path": path}) if args.json else print(path)
    return 0
