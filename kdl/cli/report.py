"""``kdl report WORKDIR``: the figures of a run, or of a search, and a page linking them."""

from __future__ import annotations

import os

from kdl.cli.common import UsageError, print_json


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="figures of a run (curves, confusion matrix, mistakes, "
                                      "hidden units) or of a search, and a page linking them")
    p.add_argument("workdir", help="a `kdl train` workdir, or a `kdl tune` workdir/RECIPE")
    p.add_argument("--objective", default="val_accuracy", help="for a search: its objective")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from kdl.report import ReportError, write_report, write_tuning_report

    try:
        if os.path.isdir(args.workdir) and any(
                name.startswith("trial_") for name in os.listdir(args.workdir)):
            index = write_tuning_report(args.workdir, args.objective)
        else:
            index = write_report(args.workdir)
    except ReportError as e:
        raise UsageError(str(e)) from None
    print_json({"workdir": args.workdir, "report": index}) if args.json else print(index)
    return 0
