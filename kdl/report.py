"""Figures of a run, beside it: ``kdl report WORKDIR`` (also written by every ``kdl train``).

From a ``kdl train`` workdir (``recipe.json``, ``history.csv``, ``model.keras``,
``result.json``) it writes into ``WORKDIR/report/``:

- ``curves.png``: loss and the recipe's metric, train and validation, and the learning
  rate, per epoch;
- ``batch_loss.png``: the training loss every n batches, against the update step and the
  seconds, when the run logged it (the recipe field ``log_every_n_batches``);
- ``hidden_units.png``: :class:`kdl.callbacks.ActivationMonitor`'s statistics per layer
  over epochs (dead units, saturated units, mean and std), when the run monitored them;
- classification: ``confusion_matrix.png`` (counts on the test split and per-class
  accuracy) and ``mistakes.png`` (the test images misclassified with the highest
  confidence);
- autoencoders: ``reconstructions.png`` (test images above their reconstructions);
- ``report.json`` (the numbers drawn: confusion matrix, per-class accuracy, the test
  accuracy they give) and ``index.html``, one page showing them all.

From a ``kdl tune`` project directory (``WORKDIR/RECIPE`` with ``trial_*/trial.json``):
``trials.png`` (each trial's score in order, the best so far, and score against the
learning rate) and ``index.html``. matplotlib with the Agg backend: no display needed.
"""

from __future__ import annotations

import csv
import html
import json
import os

import numpy as np

from kdl._files import write_json, write_text

from kdl.callbacks import BATCH_LOG, read_batch_log
from kdl.plots import plot_batch_loss, plot_curves, plot_hidden_units, plot_trials
from kdl.recipes import Recipe, lower_is_better
from kdl.tasks import TestOutputs, get_task
from kdl.errors import KdlError

REPORT_DIR = "report"


class ReportError(KdlError, ValueError):
    """The directory holds no run (or search) to report on."""


def read_history(path: str) -> dict[str, list[float]]:
    """``history.csv`` as columns of floats (the CSVLogger's, resumed runs appended)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            columns.setdefault(key, []).append(number)
    return columns


def load_recipe(workdir: str):
    """The :class:`kdl.recipes.Recipe` a workdir's run was trained with (``recipe.json``)."""
    path = os.path.join(workdir, "recipe.json")
    if not os.path.exists(path):
        raise ReportError(f"No kdl run in {workdir} (no recipe.json): run `kdl train` there "
                          f"first. Received: workdir={workdir!r}")
    with open(path) as f:
        return Recipe.from_dict(json.load(f))


# --- figures ------------------------------------------------------------------------------

# --- pages --------------------------------------------------------------------------------

def _write_index(out_dir: str, title: str, summary: list[tuple[str, str]],
                 figures: list[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in summary)
    images = "".join(f"<h2>{html.escape(caption)}</h2><img src='{html.escape(name)}' "
                     f"alt='{html.escape(caption)}' style='max-width:100%'>"
                     for name, caption in figures)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body style='font-family:sans-serif'><h1>{html.escape(title)}</h1>"
            f"<table>{rows}</table>{images}</body></html>\n")
    path = os.path.join(out_dir, "index.html")
    return write_text(path, page)


def test_outputs(recipe, workdir: str) -> TestOutputs:
    """The workdir's ``model.keras`` on the test split, in order."""
    import keras

    import kdl.data.augment  # noqa: F401  (registers kdl's serializable layers)
    import kdl.layers  # noqa: F401
    from kdl.engine.loop import prepare_data

    path = os.path.join(workdir, "model.keras")
    if not os.path.exists(path):
        raise ReportError(f"No trained model at {path}. Received: workdir={workdir!r}")
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    data = prepare_data(recipe)
    images, labels, outputs = [], [], []
    for x, y in data.test:
        images.append(np.asarray(x))  # tf.data's tensors or kdl.data.ArrayFeed's arrays
        labels.append(np.asarray(y))
        outputs.append(keras.ops.convert_to_numpy(model(x, training=False)))
    return TestOutputs(np.concatenate(images), np.concatenate(labels), np.concatenate(outputs),
                       tuple(data.class_names))


def write_report(workdir: str) -> str:
    """Write ``workdir/report/`` (figures, ``report.json``, ``index.html``); returns the page."""
    recipe = load_recipe(workdir)
    history_path = os.path.join(workdir, "history.csv")
    if not os.path.exists(history_path):
        raise ReportError(f"No training history in {workdir} (no history.csv). "
                          f"Received: workdir={workdir!r}")
    out = os.path.join(workdir, REPORT_DIR)
    os.makedirs(out, exist_ok=True)
    history = read_history(history_path)
    result_path = os.path.join(workdir, "result.json")
    result = json.load(open(result_path)) if os.path.exists(result_path) else {}
    task = get_task(recipe.task)
    figures = [(os.path.basename(plot_curves(history, task.curve_metric,
                                             os.path.join(out, "curves.png"))),
                "loss, metric and learning rate per epoch")]
    batches = os.path.join(workdir, BATCH_LOG)
    if os.path.exists(batches) and read_batch_log(batches):
        plot_batch_loss(read_batch_log(batches), os.path.join(out, "batch_loss.png"))
        figures.append(("batch_loss.png", "training loss every "
                        f"{recipe.log_every_n_batches} batch(es), against updates and seconds"))
    if plot_hidden_units(history, os.path.join(out, "hidden_units.png")):
        figures.append(("hidden_units.png", "hidden units per layer over epochs"))
    numbers: dict = {"recipe": recipe.name, "test_metrics": result.get("test_metrics")}
    if task.figures_use_test_outputs:
        figures += task.figures(test_outputs(recipe, workdir), out, numbers)
    write_json(os.path.join(out, "report.json"), numbers)
    summary = [("recipe", recipe.name), ("model", recipe.model), ("data", recipe.data),
               ("epochs run", str(result.get("epochs_run", len(history.get("loss", [])))))]
    summary += [(f"test {k}", f"{v:.4f}") for k, v in (result.get("test_metrics") or {}).items()]
    if result.get("target") is not None:
        summary.append(("target", f"{result['target_metric']} {result['target']} "
                                  f"({'met' if result.get('target_met') else 'not met'})"))
    return _write_index(out, f"kdl run: {recipe.name}", summary, figures)


def read_trials(project_dir: str) -> list[dict]:
    """Each KerasTuner trial of ``project_dir``: id, status, score, hyperparameters."""
    trials = []
    for name in sorted(os.listdir(project_dir)) if os.path.isdir(project_dir) else []:
        path = os.path.join(project_dir, name, "trial.json")
        if name.startswith("trial_") and os.path.exists(path):
            with open(path) as f:
                t = json.load(f)
            trials.append({"trial_id": t.get("trial_id"), "status": t.get("status"),
                           "score": t.get("score"),
                           "hyperparameters": (t.get("hyperparameters") or {}).get("values", {})})
    return trials


def write_tuning_report(project_dir: str, objective: str = "val_accuracy") -> str:
    """``trials.png`` and ``index.html`` for a KerasTuner project directory."""
    trials = read_trials(project_dir)
    if not trials:
        raise ReportError(f"No KerasTuner trials in {project_dir} (no trial_*/trial.json). "
                          f"Received: workdir={project_dir!r}")
    out = os.path.join(project_dir, REPORT_DIR)
    os.makedirs(out, exist_ok=True)
    lower = lower_is_better(objective)
    scored = [t for t in trials if t["score"] is not None]
    plot_trials(scored, objective, lower, os.path.join(out, "trials.png"))
    write_json(os.path.join(out, "report.json"), {"objective": objective, "trials": trials})
    top = sorted(scored, key=lambda t: t["score"], reverse=not lower)[:1]
    summary = [("trials", str(len(trials))), ("objective", objective)]
    if top:
        summary.append(("best", f"{top[0]['score']:.4f} (trial {top[0]['trial_id']}: "
                                f"{top[0]['hyperparameters']})"))
    return _write_index(out, f"kdl search: {os.path.basename(project_dir.rstrip('/'))}",
                        summary, [("trials.png", "trials and the best so far")])
