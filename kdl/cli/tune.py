"""``kdl tune RECIPE``: a KerasTuner search over a recipe's space (one process, or a chief
and workers). Checks first (exit 2, nothing written), then the search."""

from __future__ import annotations

import os

from kdl.cli.common import UsageError, positive, print_json, resolve_recipe


def add_parser(sub) -> None:
    p = sub.add_parser("tune", help="KerasTuner search over a recipe's space")
    p.add_argument("recipe")
    p.add_argument("--tuner", default="random")
    p.add_argument("--max-trials", type=positive("--max-trials"), default=10)
    p.add_argument("--epochs", type=positive("--epochs"))
    p.add_argument("--workdir")
    p.add_argument("--objective", default="val_accuracy")
    p.add_argument("--export", action="store_true")
    p.add_argument("--export-dir", default="saved_models")
    p.add_argument("--json", action="store_true")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--chief", action="store_true", help="run the oracle (distributed tuning)")
    p.add_argument("--worker", metavar="ID", help="run trials as this worker")
    p.add_argument("--oracle-address", default="127.0.0.1")
    p.add_argument("--oracle-port", type=int, default=8000)
    p.add_argument("--connect-timeout", type=float, default=60.0)
    p.add_argument("--no-report", action="store_true", help="no plot of the trials")
    p.set_defaults(func=run)


def _check_cluster(args, tuning) -> None:
    if args.chief and args.worker is not None:
        raise UsageError("Use --chief or --worker ID, not both. Received: both")
    if not (args.chief or args.worker is not None):
        return
    tuning.set_distributed_tuning(args.oracle_address, args.oracle_port,
                                  "chief" if args.chief else f"tuner{args.worker}")
    if args.chief and not tuning.port_free(args.oracle_address, args.oracle_port):
        raise UsageError(f"Port {args.oracle_port} on {args.oracle_address} is already in use. "
                         f"Received: --oracle-port={args.oracle_port}")
    if args.worker is not None and not tuning.wait_for_chief(
            args.oracle_address, args.oracle_port, args.connect_timeout):
        raise UsageError(f"Worker {args.worker} could not reach the chief at "
                         f"{args.oracle_address}:{args.oracle_port} within "
                         f"{args.connect_timeout:g} s. Received: --worker={args.worker}")


def run(args) -> int:
    from kdl import tuning
    from kdl._names import unknown_name_message

    if args.tuner not in tuning.TUNERS:
        raise UsageError(unknown_name_message("tuner", args.tuner, tuning.TUNERS))
    _check_cluster(args, tuning)
    recipe = resolve_recipe(args)
    workdir = args.workdir or os.path.join("runs", "tune")
    from kdl.engine.resolve import check_data

    check_data(recipe)
    try:
        tuner, hypermodel = tuning.search(recipe, args.tuner, objective=args.objective,
                                          max_trials=args.max_trials, directory=workdir,
                                          chief=args.chief)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.worker is not None:
        out = {"recipe": recipe.name, "worker": args.worker, "status": "done"}
        print_json(out) if args.json else print(f"worker {args.worker} done")
        return 0
    rows = tuning.trial_table(tuner)
    export_path = report = None
    if args.export and rows:
        export_path = tuning.retrain_best(tuner, hypermodel,
                                          os.path.join(workdir, recipe.name, "best"),
                                          args.export_dir)
    if not args.no_report and rows:
        from kdl.report import write_tuning_report

        report = write_tuning_report(os.path.join(workdir, recipe.name), args.objective)
    if args.json:
        print_json({"recipe": recipe.name, "tuner": args.tuner, "objective": args.objective,
                    "trials": rows, "best": rows[0] if rows else None,
                    "export_path": export_path, "report": report})
        return 0
    print(f"{'rank':>4}  {'trial':>6}  {args.objective:>14}  hyperparameters")
    for r in rows:
        score = f"{r['score']:.4f}" if r["score"] is not None else "-"
        hps = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in r["hyperparameters"].items())
        print(f"{r['rank']:>4}  {r['trial_id']:>6}  {score:>14}  {hps}")
    if export_path:
        print(f"best trial retrained and exported to {export_path}")
    if report:
        print(f"report: {report}")
    return 0
