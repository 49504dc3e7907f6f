"""``kdl train``: a recipe over seeds, its report, its export and, asked, its card."""

from __future__ import annotations

import sys
import time

from kdl.cli.common import (UsageError, add_format_arg, add_recipe_args,
                            check_formats, positive, print_json, resolve_recipe, shown_command,
                            strategy_for, workdir_for)


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a recipe, evaluate on test, export a SavedModel")
    add_recipe_args(p)
    p.add_argument("--export-dir", default="saved_models")
    p.add_argument("--no-export", action="store_true")
    add_format_arg(p)
    p.add_argument("--strategy", default="auto",
                   choices=["auto", "default", "one_device", "mirrored", "multi_worker", "tpu"])
    p.add_argument("--precision", choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"],
                   help="auto: bfloat16 where it measured faster (CPUs with AMX, recent GPUs)")
    p.add_argument("--backend", choices=["tensorflow", "jax", "torch"],
                   help="Keras backend (default: $KERAS_BACKEND, else tensorflow); without "
                        "TensorFlow, Keras' PyDataset feeds and kdl export writes the SavedModel later")
    p.add_argument("--record", action="store_true",
                   help="write this run's result as the recipe's card (recipes/cards/)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.add_argument("--seeds", type=positive("--seeds"), default=1,
                   help="train N seeds (the recipe's seed and the next N-1); the card and "
                        "the summary give their mean and standard deviation")
    p.add_argument("--add-seeds", type=positive("--add-seeds"), metavar="N",
                   help="train N more seeds after the card's last and add them to it (mean, "
                        "std, verdict recomputed); config, backend, versions, machine as the card's")
    p.add_argument("--deterministic", action="store_true",
                   help="op determinism and ordered input pipelines: a seed gives the same "
                        "result twice on one machine (slower)")
    p.add_argument("--no-report", action="store_true", help="no figures (kdl report) at the end")
    p.add_argument("--overfit-batch", type=positive("--overfit-batch"), metavar="N",
                   help="sanity check: train on N examples alone (no regularization, "
                        "augmentation or early stopping) until the loss is near zero; "
                        "checks the initial loss against log(classes); writes nothing")
    p.set_defaults(func=run)


def run(args) -> int:
    start = time.perf_counter()
    recipe = resolve_recipe(args)
    if args.overfit_batch:
        from kdl.cli.sanity import overfit_batch

        return overfit_batch(args, recipe)
    if recipe.deterministic:  # before the strategy: it may start JAX's backends
        from kdl.platform import enable_determinism

        enable_determinism()
    # The strategy first: MultiWorkerMirroredStrategy must configure collective ops
    # before TensorFlow runs anything (loading the data does).
    strategy = strategy_for(args)
    from kdl import cards
    from kdl.engine.distribute import is_chief
    from kdl.engine.resolve import check_data
    from kdl.engine.seeds import recipe_to_add_seeds, train_seeds
    from kdl.engine.workdir import WorkdirInUseError, WorkdirMismatchError
    from kdl.export import export_run, no_saved_model_note
    from kdl.recipes import write_new_recipe_file

    fingerprint = check_data(recipe)
    _check_outputs(args, recipe)
    formats = check_formats(args)

    if args.add_seeds:
        if args.seeds != 1:
            raise UsageError(f"--add-seeds continues the card's seeds; --seeds starts anew: "
                             f"choose one. Received: --seeds {args.seeds} --add-seeds {args.add_seeds}")
        try:
            recipe = recipe_to_add_seeds(cards.load_card(recipe.name, recipe), recipe, strategy,
                                         data_fingerprint=fingerprint)
        except ValueError as e:
            raise UsageError(str(e)) from None
    workdir = workdir_for(args, recipe)
    path = write_new_recipe_file(recipe, workdir, shown_command(args.argv)) if is_chief() else None
    if path and not args.json:  # --from BASE --name NEW: the new recipe's file, rerunnable
        print(f"recipe file: {path} (kdl train {path} runs it again)", flush=True)
    several = (args.add_seeds or args.seeds) > 1 or bool(args.add_seeds)

    def on_seed(result, summary):
        if not args.json and several:
            metrics = ", ".join(f"{k} {v:.4f}" for k, v in summary["test_metrics"].items())
            print(f"seed {summary['seed']}: {summary['epochs_run']} epochs, test {metrics}",
                  flush=True)
        if is_chief() and not args.no_report:
            from kdl.report import write_report

            index = write_report(result.workdir)
            if not args.json:
                print(f"report: {index}", flush=True)

    try:
        done = train_seeds(recipe, workdir, seeds=args.add_seeds or args.seeds,
                           per_seed_workdirs=several, strategy=strategy,
                           verbose=0 if args.quiet else 1, on_seed=on_seed)
    except (WorkdirMismatchError, WorkdirInUseError) as e:
        raise UsageError(str(e)) from None
    summary = dict(done.summary)
    first = done.first
    summary["export_path"] = None
    if not args.no_export and is_chief() and (note := no_saved_model_note(first.workdir)):
        print(note, file=sys.stderr, flush=True)  # trained where TensorFlow is not installed
    elif not args.no_export and is_chief():
        # The first seed's model (the recipe's own seed): what a single run would export.
        summary["export_path"] = export_run(first.model, first.recipe, args.export_dir,
                                            done.runs[0], first.data, provenance=first.provenance,
                                            formats=formats)
    if getattr(args, "data_parallel_devices", 1) > 1:
        summary["data_parallel_devices"] = args.data_parallel_devices
    summary["wall_s"] = round(time.perf_counter() - start, 2)
    card = None
    if (args.record or args.add_seeds) and is_chief():
        command = shown_command(args.argv)
        if args.add_seeds:
            try:
                card = cards.add_seeds_to_card(recipe.name, done.runs, first.provenance,
                                               command=command, recipe=recipe)
            except ValueError as e:  # the card changed while these seeds ran
                raise UsageError(f"{e} (these seeds' results are in {workdir})") from None
        else:
            cards.record(done, command=command)
    print_json(summary) if args.json else _print_summary(recipe, summary, len(done.runs), card)
    return 0


def _check_outputs(args, recipe) -> None:
    """Before anything is written: a card is never replaced by a smoke run, and the workdir
    and export directory can be written."""
    from kdl.engine.workdir import check_writable_dir

    if (args.record or args.add_seeds) and args.smoke:
        option = "--record" if args.record else "--add-seeds"
        raise UsageError(f"{option} keeps full runs only: a smoke run would replace a measured "
                         f"card. Received: --smoke {option}")
    check_writable_dir(workdir_for(args, recipe), "--workdir")
    if not args.no_export:
        check_writable_dir(args.export_dir, "--export-dir")


def _print_summary(recipe, summary: dict, n_runs: int, card: dict | None) -> None:
    from kdl.cards import metric_text

    spread = summary.get("test_metrics_std")
    metrics = ", ".join(f"{k} {v:.4f}" + (f" ± {spread[k]:.4f}" if spread else "")
                        for k, v in summary["test_metrics"].items())
    seeds_text = f" (mean of {n_runs} seeds)" if n_runs > 1 else ""
    verdicts = {True: ", target met", False: ", target NOT met", None: ""}
    export_path = summary.get("export_path")
    print(f"{recipe.name}: {summary['epochs_run']} epochs, test {metrics}{seeds_text}"
          f"{verdicts[summary.get('target_met')]}, {summary['wall_s']:.0f} s"
          + (f", exported to {export_path}" if export_path else ""))
    if card:
        print(f"card: {metric_text(card, card['target_metric'])}{verdicts[card['target_met']]}")
