"""``kdl experiment list`` and ``kdl experiment NAME``: the course's claims, run."""

from __future__ import annotations

from kdl.cli.common import UsageError, positive, print_json, print_table


def add_parser(sub) -> None:
    p = sub.add_parser("experiment", help="the course's claims as experiments: "
                                          "`kdl experiment list`, `kdl experiment NAME`")
    p.add_argument("name", help="an experiment (see `kdl experiment list`), or list")
    p.add_argument("--smoke", action="store_true", help="seconds-long settings")
    p.add_argument("--seeds", type=positive("--seeds"),
                   help="default: the experiment's own (at least 3), 1 with --smoke")
    p.add_argument("--out", default="experiments", help="where the PNG and JSON go")
    p.add_argument("--record", action="store_true",
                   help="write them to docs/experiments/ (make docs renders the page)")
    p.add_argument("--notebook", metavar="PATH.ipynb", help="write the experiment as a notebook "
                   "(claim, code at smoke size, figure, verdict, exercises), run once")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from kdl.experiments import RECORD_DIR, get_experiment, list_experiments, run_experiment

    if args.name == "list":
        rows = [{"experiment": n, "claim": get_experiment(n).claim} for n in list_experiments()]
        if args.json:
            print_json(rows)
        else:
            for row in rows:
                print(f"{row['experiment']:<26} {row['claim']}")
        return 0
    try:
        get_experiment(args.name)
        if args.notebook:
            from kdl.experiments._notebook import write_notebook

            path = write_notebook(args.name, args.notebook)
            print_json({"experiment": args.name, "notebook": path}) if args.json else print(path)
            return 0
        if args.record and args.smoke:
            raise ValueError("--record keeps full runs only. Received: --smoke --record")
        record = run_experiment(args.name, smoke=args.smoke, seeds=args.seeds,
                                out=RECORD_DIR if args.record else args.out)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.json:
        print_json(record)
        return 0
    print(f"claim: {record['claim']}")
    print_table(record["numbers"].get("table") or [])
    verdict = "SUPPORTED" if record["supported"] else "NOT supported"
    print(f"verdict: {verdict} by this run ({len(record['seeds'])} seed(s)"
          f"{', smoke settings' if record['smoke'] else ''}): {record['verdict']}")
    print(f"figure: {record['figure']}, numbers: {record['json']}")
    return 0
