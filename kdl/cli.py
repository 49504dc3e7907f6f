"""The ``kdl`` command: list, train, evaluate, export, predict, tune, report, cards.

It parses, calls the library, prints. Bad input (an unknown recipe, a wrong ``--set``,
epochs <= 0, data that cannot be found, an image of the wrong shape, a workdir in use)
is one line on stderr and exit status 2, before anything is written. TensorFlow's
start-up lines are kept off the terminal (:mod:`kdl.runtime`); ``--verbose`` or
``KDL_VERBOSE=1`` shows them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import kdl  # noqa: F401  (sets KERAS_BACKEND before TensorFlow loads)

class UsageError(Exception):
    """Bad input from the command line: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (no usage block above them)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def _positive(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a positive integer. Received: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer. Received: {value}")
        return value

    return parse


def _resolve_recipe(args):
    from kdl.recipes import resolve_recipe

    try:
        return resolve_recipe(args.recipe, smoke=getattr(args, "smoke", False),
                              overrides=args.set or [],
                              epochs=getattr(args, "epochs", None),
                              batch_size=getattr(args, "batch_size", None),
                              precision=getattr(args, "precision", None) or None,
                              deterministic=True if getattr(args, "deterministic", False) else None)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _workdir(args, recipe) -> str:
    return args.workdir or os.path.join("runs", recipe.name)


def _strategy(args):
    from kdl.distribute import StrategyError, get_strategy

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend != "tensorflow":
        kind = getattr(args, "strategy", "auto") or "auto"
        if kind not in ("auto", "default") or os.environ.get("TF_CONFIG"):
            raise UsageError(f"tf.distribute strategies need the TensorFlow backend. Received: "
                             f"--strategy {kind}{' with TF_CONFIG set' if os.environ.get('TF_CONFIG') else ''}"
                             f" on KERAS_BACKEND={backend}")
        if kind == "auto":
            from kdl.distribute import use_keras_data_parallel

            args.data_parallel_devices = use_keras_data_parallel()
        return None
    try:
        return get_strategy(getattr(args, "strategy", "auto") or "auto")
    except StrategyError as e:
        raise UsageError(str(e)) from None


def _check_data(recipe) -> None:
    from kdl.data import DataNotFoundError
    from kdl.training import check_data

    try:
        check_data(recipe)
    except DataNotFoundError as e:
        raise UsageError(str(e)) from None


def _print_json(obj) -> None:
    print(json.dumps(obj, default=str), flush=True)


# --- commands -----------------------------------------------------------------------------

def cmd_list(args) -> int:
    from kdl.cards import load_card, target_text
    from kdl.recipes import get_recipe, list_recipes

    rows = []
    for name in list_recipes(args.pattern):
        r = get_recipe(name)
        card = load_card(name)
        last = "-"
        if card:
            from kdl.cards import epochs_text, metric_text, settings_changed

            met = {True: "met", False: "not met", None: "-"}[card.get("target_met")]
            last = (f"{metric_text(card, r.target_metric)}, {epochs_text(card)} ep, "
                    f"{card['wall_s'] / 60:.1f} min, {met}")
            changed = settings_changed(card, r)
            if changed:
                last += f", other settings: {', '.join(changed)}"
        rows.append({"recipe": name, "model": r.model, "data": r.data,
                     "target": target_text(r.target_metric, r.target)
                     if r.target is not None else "-", "last_result": last})
    if args.json:
        _print_json(rows)
        return 0
    widths = {k: max(len(k), *(len(str(row[k])) for row in rows)) for k in rows[0]} if rows else {}
    print("  ".join(k.ljust(w) for k, w in widths.items()))
    for row in rows:
        print("  ".join(str(row[k]).ljust(w) for k, w in widths.items()))
    return 0


argv_for_card: list[str] | None = None


def _run_one(args, recipe, workdir, strategy, prefix=""):
    """Train one seed; a workdir in use or of another configuration is a usage error."""
    from kdl.training import WorkdirMismatchError, train_and_evaluate
    from kdl.workdir import WorkdirInUseError

    try:
        return train_and_evaluate(recipe, workdir, strategy=strategy,
                                  verbose=0 if args.quiet else 1,
                                  progress_prefix=prefix)
    except (WorkdirMismatchError, WorkdirInUseError) as e:
        raise UsageError(str(e)) from None


def cmd_train(args) -> int:
    import time

    start = time.perf_counter()
    recipe = _resolve_recipe(args)
    if args.overfit_batch:
        return _overfit_batch(args, recipe)
    if recipe.deterministic:
        from kdl.training import enable_determinism

        try:
            enable_determinism()  # before the strategy: it may start JAX's backends
        except ValueError as e:
            raise UsageError(str(e)) from None
    # The strategy first: MultiWorkerMirroredStrategy must configure collective ops
    # before TensorFlow runs anything (loading the data does).
    strategy = _strategy(args)
    _check_data(recipe)
    from kdl.cards import add_seeds_to_card, save_card
    from kdl.distribute import is_chief
    from kdl.export import export_run

    if args.add_seeds:
        recipe = _recipe_to_add_seeds(args, recipe, strategy)
    seeds = [recipe.seed + i for i in range(args.add_seeds or args.seeds)]
    workdir = _workdir(args, recipe)
    runs, first = [], None
    for i, seed in enumerate(seeds):
        seeded = recipe.replace(seed=seed)
        multi = len(seeds) > 1 or bool(args.add_seeds)
        result = _run_one(args, seeded, os.path.join(workdir, f"seed{seed}") if multi else workdir,
                          strategy, prefix=f"seed {seed} ({i + 1}/{len(seeds)}): " if multi else "")
        # One meaning of wall_s in result.json, the export's kdl.json and the card: the
        # run's own (set-up, training, evaluation), as TrainResult measured it.
        summary = {**result.summary(), "seed": seed}
        runs.append(summary)
        if first is None:
            first = result
        if not args.json and multi:
            metrics = ", ".join(f"{k} {v:.4f}" for k, v in summary["test_metrics"].items())
            print(f"seed {seed}: {summary['epochs_run']} epochs, test {metrics}", flush=True)
        if is_chief() and not args.no_report:
            _write_report(result.workdir, quiet=args.json)
    summary = _combine(runs)
    export_path = None
    if not args.no_export and is_chief():
        # The first seed's model (the recipe's own seed): what a single run would export.
        export_path = export_run(first.model, first.recipe, args.export_dir, runs[0], first.data,
                                 provenance=first.provenance)
    summary["export_path"] = export_path
    if getattr(args, "data_parallel_devices", 1) > 1:
        summary["data_parallel_devices"] = args.data_parallel_devices
    summary["wall_s"] = round(time.perf_counter() - start, 2)
    card = None
    if (args.record or args.add_seeds) and is_chief():
        command = " ".join(["kdl", *(argv_for_card or [])]) if argv_for_card else None
        if args.add_seeds:
            try:
                card = add_seeds_to_card(recipe.name, runs, first.provenance, command=command)
            except ValueError as e:  # the card changed while these seeds ran
                raise UsageError(f"{e} (these seeds' results are in {workdir})") from None
        else:
            # The recipe as it ran (resolved for the strategy), with the seed it started from.
            save_card(first.recipe, runs, pretrain=first.pretrain_report, command=command,
                      provenance=first.provenance)
    if args.json:
        _print_json(summary)
    else:
        spread = summary.get("test_metrics_std")
        metrics = ", ".join(
            f"{k} {v:.4f}" + (f" ± {spread[k]:.4f}" if spread else "")
            for k, v in summary["test_metrics"].items())
        seeds_text = f" (mean of {len(runs)} seeds)" if len(runs) > 1 else ""
        target = summary.get("target_met")
        verdict = "" if target is None else (", target met" if target else ", target NOT met")
        print(f"{recipe.name}: {summary['epochs_run']} epochs, test {metrics}{seeds_text}"
              f"{verdict}, {summary['wall_s']:.0f} s"
              + (f", exported to {export_path}" if export_path else ""))
        if card:
            from kdl.cards import metric_text

            met = {True: ", target met", False: ", target NOT met", None: ""}[card["target_met"]]
            print(f"card: {metric_text(card, card['target_metric'])}{met}")
    return 0


def _recipe_to_add_seeds(args, recipe, strategy):
    """``recipe`` starting at the seed after its card's last, once the set-up it will run
    (recipe resolved for ``strategy``, backend, versions, machine) is checked to be the
    card's: a mean over seeds of two set-ups would mean nothing."""
    import tensorflow as tf

    from kdl.cards import check_can_add_seeds, load_card
    from kdl.provenance import provenance
    from kdl.training import resolve_for_strategy

    if args.seeds != 1:
        raise UsageError(f"--add-seeds continues the card's seeds; --seeds starts anew: choose "
                         f"one. Received: --seeds {args.seeds} --add-seeds {args.add_seeds}")
    card = load_card(recipe.name)
    try:
        check_can_add_seeds(card, recipe.name)
        recipe = recipe.replace(seed=max(s["seed"] for s in card["seeds"]) + 1)
        check_can_add_seeds(card, recipe.name, provenance(
            resolve_for_strategy(recipe, strategy or tf.distribute.get_strategy())))
    except ValueError as e:
        raise UsageError(str(e)) from None
    return recipe


def _overfit_batch(args, recipe) -> int:
    from kdl.training import overfit_small_batch

    _check_data(recipe)
    try:
        report = overfit_small_batch(recipe, args.overfit_batch)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.json:
        _print_json(report)
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


def _combine(runs: list[dict]) -> dict:
    """One run's summary as it is; several seeds': the mean, with each run and the std."""
    if len(runs) == 1:
        return dict(runs[0])
    from kdl.cards import aggregate_runs

    return aggregate_runs(runs)


def _write_report(workdir: str, quiet: bool = False) -> None:
    from kdl.report import write_report

    index = write_report(workdir)
    if not quiet:
        print(f"report: {index}", flush=True)


def _load_workdir_model(args, recipe):
    import keras

    path = os.path.join(_workdir(args, recipe), "model.keras")
    if not os.path.exists(path):
        raise UsageError(f"No trained model at {path}: run `kdl train {recipe.name}` first. "
                         f"Received: --workdir={args.workdir!r}")
    import kdl.layers  # noqa: F401  (registers kdl's serializable layers)
    import kdl.data.augment  # noqa: F401
    import kdl.training  # noqa: F401

    return keras.saving.load_model(path, safe_mode=True)


def cmd_evaluate(args) -> int:
    recipe = _resolve_recipe(args)
    _check_data(recipe)
    model = _load_workdir_model(args, recipe)
    from kdl.training import prepare_data

    data = prepare_data(recipe)
    metrics = {k: float(v) for k, v in model.evaluate(data.test, verbose=0,
                                                      return_dict=True).items()}
    out = {"recipe": recipe.name, "test_metrics": metrics}
    _print_json(out) if args.json else print(out)
    return 0


def cmd_export(args) -> int:
    recipe = _resolve_recipe(args)
    _check_data(recipe)
    model = _load_workdir_model(args, recipe)
    result_path = os.path.join(_workdir(args, recipe), "result.json")
    summary = json.load(open(result_path)) if os.path.exists(result_path) else {}
    from kdl.export import export_run
    from kdl.training import prepare_data

    path = export_run(model, recipe, args.export_dir, summary, prepare_data(recipe))
    _print_json({"recipe": recipe.name, "export_path": path}) if args.json else print(path)
    return 0


def _read_image(path: str):
    import numpy as np

    if not os.path.exists(path):
        raise UsageError(f"No such file. Received: {path!r}")
    if path.lower().endswith(".npy"):
        array = np.load(path)
    elif path.lower().endswith((".png", ".jpg", ".jpeg", ".bmp")):
        from PIL import Image

        array = np.asarray(Image.open(path))
    else:
        raise UsageError(f"predict reads .png, .jpg or .npy files. Received: {path!r}")
    return array


def _resolve_export(path: str) -> str:
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    if os.path.isdir(path):
        versions = sorted((int(d) for d in os.listdir(path) if d.isdigit()), reverse=True)
        if versions:
            return os.path.join(path, str(versions[0]))
    raise UsageError(f"No SavedModel (saved_model.pb) at {path} or in its numbered versions. "
                     f"Received: {path!r}")


def cmd_predict(args) -> int:
    import numpy as np

    export = _resolve_export(args.export_dir)
    meta_path = os.path.join(export, "kdl.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    import tensorflow as tf

    loaded = tf.saved_model.load(export)
    serve = loaded.signatures["serving_default"]
    spec = list(serve.structured_input_signature[1].values())[0]
    if spec.dtype == tf.string:
        texts = [open(f).read() if os.path.exists(f) else f for f in args.files]
        out = serve(tf.constant(texts))
        vocab = meta.get("vocabulary")
        for t, ids in zip(args.files, out["top_k_class_ids"].numpy(), strict=True):
            print(json.dumps({"input": t, "next_chars": [vocab[i] for i in ids] if vocab else
                              ids.tolist()}))
        return 0
    expected = tuple(spec.shape[1:])
    images = []
    for f in args.files:
        a = _read_image(f)
        if a.ndim == len(expected) - 1 and expected[-1] == 1:
            a = a[..., None]
        if tuple(a.shape) != expected:
            raise UsageError(f"{f} has shape {tuple(a.shape)}; this model takes {expected}. "
                             f"Received: {f!r}")
        if a.dtype != np.uint8:
            if a.min() < 0 or a.max() > 255:
                raise UsageError(f"{f} has values outside [0, 255]. Received: {f!r}")
            a = a.astype(np.uint8)
        images.append(a)
    out = serve(tf.constant(np.stack(images)))
    names = meta.get("class_names")
    for f, probs, cid in zip(args.files, out["probabilities"].numpy(), out["class_ids"].numpy(),
                               strict=True):
        row = {"file": f, "class_id": int(cid), "probability": float(probs[cid])}
        if names:
            row["class_name"] = names[int(cid)]
        print(json.dumps(row))
    return 0


def cmd_cards(args) -> int:
    from kdl.cards import write_readme_cards

    path = write_readme_cards(args.readme)
    print(f"recipe cards written to {path}")
    return 0


def _print_trials(rows, objective):
    print(f"{'rank':>4}  {'trial':>6}  {objective:>14}  hyperparameters")
    for r in rows:
        score = f"{r['score']:.4f}" if r["score"] is not None else "-"
        hps = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in r["hyperparameters"].items())
        print(f"{r['rank']:>4}  {r['trial_id']:>6}  {score:>14}  {hps}")


def cmd_tune(args) -> int:
    """``kdl tune``: checks first (exit 2, nothing written), then the search."""
    from kdl import tuning

    if args.tuner not in tuning.TUNERS:
        from kdl._names import unknown_name_message

        raise UsageError(unknown_name_message("tuner", args.tuner, tuning.TUNERS))
    if args.chief and args.worker is not None:
        raise UsageError("Use --chief or --worker ID, not both. Received: both")
    recipe = _resolve_recipe(args)
    workdir = args.workdir or os.path.join("runs", "tune")
    if args.chief or args.worker is not None:
        tuning.set_distributed_tuning(args.oracle_address, args.oracle_port,
                                      "chief" if args.chief else f"tuner{args.worker}")
        if args.chief and not tuning.port_free(args.oracle_address, args.oracle_port):
            raise UsageError(f"Port {args.oracle_port} on {args.oracle_address} is already in use. "
                             f"Received: --oracle-port={args.oracle_port}")
        if args.worker is not None and not tuning.wait_for_chief(
                args.oracle_address, args.oracle_port, args.connect_timeout):
            raise UsageError(
                f"Worker {args.worker} could not reach the chief at {args.oracle_address}:"
                f"{args.oracle_port} within {args.connect_timeout:g} s. "
                f"Received: --worker={args.worker}")
    _check_data(recipe)
    try:
        tuner, hypermodel = tuning.search(recipe, args.tuner, objective=args.objective,
                                          max_trials=args.max_trials, directory=workdir,
                                          chief=args.chief)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.worker is not None:
        out = {"recipe": recipe.name, "worker": args.worker, "status": "done"}
        _print_json(out) if args.json else print(f"worker {args.worker} done")
        return 0
    rows = tuning.trial_table(tuner)
    export_path = None
    if args.export and rows:
        from kdl.export import export_run
        from kdl.training import train_and_evaluate

        best_recipe = hypermodel.recipe_for(tuner.oracle.get_best_trials(1)[0].hyperparameters)
        result = train_and_evaluate(best_recipe, os.path.join(workdir, recipe.name, "best"),
                                    verbose=0)
        export_path = export_run(result.model, best_recipe, args.export_dir, result.summary(),
                                 result.data)
    report = None
    if not args.no_report and rows:
        from kdl.report import write_tuning_report

        report = write_tuning_report(os.path.join(workdir, recipe.name), args.objective)
    if args.json:
        _print_json({"recipe": recipe.name, "tuner": args.tuner, "objective": args.objective,
                     "trials": rows, "best": rows[0] if rows else None,
                     "export_path": export_path, "report": report})
    else:
        _print_trials(rows, args.objective)
        if export_path:
            print(f"best trial retrained and exported to {export_path}")
        if report:
            print(f"report: {report}")
    return 0


def cmd_experiment(args) -> int:
    from kdl.experiments import get_experiment, list_experiments, run_experiment

    if args.name == "list":
        rows = [{"experiment": n, "claim": get_experiment(n).claim} for n in list_experiments()]
        if args.json:
            _print_json(rows)
        else:
            for row in rows:
                print(f"{row['experiment']:<26} {row['claim']}")
        return 0
    try:
        get_experiment(args.name)
        if args.record and args.smoke:
            raise ValueError("--record keeps full runs only. Received: --smoke --record")
        from kdl.experiments import RECORD_DIR, write_readme_experiments

        record = run_experiment(args.name, smoke=args.smoke, seeds=args.seeds,
                                out=RECORD_DIR if args.record else args.out)
        if args.record and os.path.exists("README.md"):
            write_readme_experiments("README.md")
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.json:
        _print_json(record)
        return 0
    print(f"claim: {record['claim']}")
    table = record["numbers"].get("table") or []
    if table:
        keys = list(table[0])
        widths = {k: max(len(k), *(len(_cell(r[k])) for r in table)) for k in keys}
        print("  ".join(k.ljust(widths[k]) for k in keys))
        for r in table:
            print("  ".join(_cell(r[k]).ljust(widths[k]) for k in keys))
    verdict = "SUPPORTED" if record["supported"] else "NOT supported"
    print(f"verdict: {verdict} by this run ({len(record['seeds'])} seed(s)"
          f"{', smoke settings' if record['smoke'] else ''}): {record['verdict']}")
    print(f"figure: {record['figure']}, numbers: {record['json']}")
    return 0


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def cmd_report(args) -> int:
    from kdl.report import ReportError, write_report, write_tuning_report

    try:
        if os.path.isdir(args.workdir) and any(
                name.startswith("trial_") for name in os.listdir(args.workdir)):
            index = write_tuning_report(args.workdir, args.objective)
        else:
            index = write_report(args.workdir)
    except ReportError as e:
        raise UsageError(str(e)) from None
    _print_json({"workdir": args.workdir, "report": index}) if args.json else print(index)
    return 0


# --- parser -------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kdl", description="Deep-learning recipes for Keras.")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up log lines (also KDL_VERBOSE=1)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list the recipes, with target and last measured result")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    def recipe_args(p, training=True):
        p.add_argument("recipe", help="recipe name (see `kdl list`)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a recipe field, e.g. --set learning_rate=0.01")
        p.add_argument("--workdir", help="logs, backup and final model (default runs/RECIPE)")
        p.add_argument("--smoke", action="store_true", help="the recipe's seconds-long variant")
        p.add_argument("--json", action="store_true", help="last line: one JSON object")
        if training:
            p.add_argument("--epochs", type=_positive("--epochs"))
            p.add_argument("--batch-size", type=_positive("--batch-size"))

    p = sub.add_parser("train", help="train a recipe, evaluate on test, export a SavedModel")
    recipe_args(p)
    p.add_argument("--export-dir", default="saved_models")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--strategy", default="auto",
                   choices=["auto", "default", "one_device", "mirrored", "multi_worker", "tpu"])
    p.add_argument("--precision", choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"],
                   help="auto: bfloat16 where it measured faster (CPUs with AMX, recent GPUs)")
    p.add_argument("--backend", choices=["tensorflow", "jax", "torch"],
                   help="Keras backend for training (default: $KERAS_BACKEND, else tensorflow); "
                        "tf.data feeds every backend and the export is a TF SavedModel")
    p.add_argument("--record", action="store_true",
                   help="write this run's result as the recipe's card (recipes/cards/)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.add_argument("--seeds", type=_positive("--seeds"), default=1,
                   help="train N seeds (the recipe's seed and the next N-1); the card and "
                        "the summary give their mean and standard deviation")
    p.add_argument("--add-seeds", type=_positive("--add-seeds"), metavar="N",
                   help="train N more seeds, after the last of the recipe's card, and add "
                        "them to the card (its mean, std and verdict are recomputed); the "
                        "configuration, backend, versions and machine must be the card's")
    p.add_argument("--deterministic", action="store_true",
                   help="op determinism and ordered input pipelines: a seed gives the same "
                        "result twice on one machine (slower)")
    p.add_argument("--no-report", action="store_true", help="no figures (kdl report) at the end")
    p.add_argument("--overfit-batch", type=_positive("--overfit-batch"), metavar="N",
                   help="sanity check: train on N examples alone (no regularization, "
                        "augmentation or early stopping) until the loss is near zero; "
                        "checks the initial loss against log(classes); writes nothing")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a trained workdir model on the test split")
    recipe_args(p, training=False)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="export a trained workdir model as a SavedModel")
    recipe_args(p, training=False)
    p.add_argument("--export-dir", default="saved_models")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("predict", help="classify images (png, jpg, npy) with an export")
    p.add_argument("export_dir", help="a version directory, or the recipe's (latest version)")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("tune", help="KerasTuner search over a recipe's space")
    p.add_argument("recipe")
    p.add_argument("--tuner", default="random")
    p.add_argument("--max-trials", type=_positive("--max-trials"), default=10)
    p.add_argument("--epochs", type=_positive("--epochs"))
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
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("experiment", help="the course's claims as experiments: "
                                          "`kdl experiment list`, `kdl experiment NAME`")
    p.add_argument("name", help="an experiment (see `kdl experiment list`), or list")
    p.add_argument("--smoke", action="store_true", help="seconds-long settings")
    p.add_argument("--seeds", type=_positive("--seeds"), default=1)
    p.add_argument("--out", default="experiments", help="where the PNG and JSON go")
    p.add_argument("--record", action="store_true",
                   help="write them to docs/experiments/ and the README's section")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("report", help="figures of a run (curves, confusion matrix, mistakes, "
                                      "hidden units) or of a search, and a page linking them")
    p.add_argument("workdir", help="a `kdl train` workdir, or a `kdl tune` workdir/RECIPE")
    p.add_argument("--objective", default="val_accuracy", help="for a search: its objective")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("cards", help="write the README's recipe cards from recorded runs")
    p.add_argument("--readme", default="README.md")
    p.set_defaults(func=cmd_cards)
    return parser


_WITHOUT_TENSORFLOW = ("list", "cards")


def main(argv: list[str] | None = None) -> int:
    global argv_for_card
    parser = build_parser()
    argv_for_card = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if getattr(args, "backend", None):
        if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != args.backend:
            print(f"kdl: error: Keras is already loaded with another backend in this process. "
                  f"Received: --backend {args.backend}", file=sys.stderr)
            return 2
        os.environ["KERAS_BACKEND"] = args.backend  # before Keras is first imported
    if args.command not in _WITHOUT_TENSORFLOW:
        from kdl.runtime import import_tensorflow

        verbose = args.verbose or os.environ.get("KDL_VERBOSE", "") not in ("", "0")
        import_tensorflow(quiet=not verbose)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"kdl: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run_recipe_file(name: str) -> None:
    """What ``python recipes/NAME.py [ARGS]`` does: ``kdl train NAME [ARGS]``."""
    sys.exit(main(["train", name, *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
