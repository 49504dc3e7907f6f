"""``kdl train RECIPE --overfit-batch N``: the course's first debugging step."""

from __future__ import annotations

from kdl.cli.common import UsageError, print_json


def overfit_batch(args, recipe) -> int:
    from kdl.engine.sanity import overfit_small_batch

    from kdl.engine.resolve import check_data

    check_data(recipe)
    try:
        report = overfit_small_batch(recipe, args.overfit_batch)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.json:
        print_json(report)
        return 0
    initial = "as expected" if report["initial_loss_ok"] else "NOT as expected: check the " \
        "initialization and the output layer"
    reached = "reached near zero" if report["reached"] else \
        "did NOT reach near zero: look for a bug before training on more data"
    print(f"{recipe.name}, {report['examples']} examples: initial loss {report['initial_loss']:.3f} "
          f"(log(classes) = {report['expected_initial_loss']:.3f}: {initial}); loss "
          f"{report['final_loss']:.4f} after {report['steps']} steps: {reached} "
          f"(< {report['threshold']})")
    return 0
