"""Figures of a run, beside it: ``kdl report WORKDIR`` (also written by every ``kdl train``).

From a ``kdl train`` workdir (``recipe.json``, ``history.csv``, ``model.keras``,
``result.json``) it writes into ``WORKDIR/report/``:

- ``curves.png``: loss and the recipe's metric, train and validation, and the learning
  rate, per epoch;
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
import dataclasses
import html
import json
import os

import numpy as np

REPORT_DIR = "report"
DPI = 100


class ReportError(ValueError):
    """The directory holds no run (or search) to report on."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    from kdl.recipes import Recipe

    path = os.path.join(workdir, "recipe.json")
    if not os.path.exists(path):
        raise ReportError(f"No kdl run in {workdir} (no recipe.json): run `kdl train` there "
                          f"first. Received: workdir={workdir!r}")
    with open(path) as f:
        config = json.load(f)
    fields = {f.name for f in dataclasses.fields(Recipe)}
    config = {k: v for k, v in config.items() if k in fields}
    if isinstance(config.get("image_size"), list):
        config["image_size"] = tuple(config["image_size"])
    return Recipe(**config)


# --- figures ------------------------------------------------------------------------------

def plot_curves(history: dict, metric: str, path: str) -> str:
    plt = _pyplot()
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    panels = [("loss", "loss"), (metric, metric)]
    has_lr = "learning_rate" in history
    fig, axes = plt.subplots(1, 3 if has_lr else 2, figsize=(15 if has_lr else 10, 4), dpi=DPI)
    for ax, (key, label) in zip(axes, panels, strict=False):
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + key in history:
                ax.plot(epochs, history[prefix + key], style, marker="o", markersize=3,
                        label="validation" if prefix else "train")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if has_lr:
        ax = axes[2]
        ax.plot(epochs, history["learning_rate"], marker="o", markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate (end of epoch)")
        ax.set_title("learning rate")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_hidden_units(history: dict, path: str) -> str | None:
    """ActivationMonitor's ``act/LAYER/STAT`` columns, one panel per statistic."""
    stats: dict[str, dict[str, list[float]]] = {}
    for key, values in history.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "act":
            stats.setdefault(parts[2], {})[parts[1]] = values
    if not stats:
        return None
    plt = _pyplot()
    order = [s for s in ("dead", "saturated", "mean", "std") if s in stats]
    labels = {"dead": "fraction of dead units", "saturated": "fraction saturated",
              "mean": "mean activation", "std": "std of activations"}
    fig, axes = plt.subplots(1, len(order), figsize=(5 * len(order), 4), dpi=DPI, squeeze=False)
    for ax, stat in zip(axes[0], order, strict=True):
        for layer, values in stats[stat].items():
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=layer)
        ax.set_xlabel("epoch")
        ax.set_ylabel(labels[stat])
        ax.set_title(labels[stat])
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Counts ``[true, predicted]``."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predicted.astype(np.int64)), 1)
    return matrix


def plot_confusion(matrix: np.ndarray, class_names, path: str) -> str:
    plt = _pyplot()
    n = len(matrix)
    per_class = np.diag(matrix) / np.maximum(matrix.sum(1), 1)
    fig, (ax, bar) = plt.subplots(1, 2, figsize=(14, 6), dpi=DPI,
                                  gridspec_kw={"width_ratios": [3, 2]})
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, label="test images")
    names = [str(c) for c in class_names][:n]
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = matrix.sum()
    ax.set_title(f"confusion matrix (test, {total} images, accuracy "
                 f"{np.trace(matrix) / max(total, 1):.4f})")
    if n <= 20:
        threshold = matrix.max() / 2
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > threshold else "black")
    bar.barh(range(n), per_class, color="tab:blue")
    bar.set_yticks(range(n), names)
    bar.invert_yaxis()
    bar.set_xlim(0, 1)
    bar.set_xlabel("accuracy on the class's test images")
    bar.set_title("per-class accuracy")
    for i, v in enumerate(per_class):
        bar.text(min(v, 0.85) + 0.01, i, f"{v:.3f}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _show(ax, image):
    image = np.asarray(image, dtype="float32")
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255 if image.max() > 1.5 else 1)
    else:
        ax.imshow(np.clip(image / (255.0 if image.max() > 1.5 else 1.0), 0, 1))
    ax.axis("off")


def plot_mistakes(images, labels, probabilities, class_names, path: str, count: int = 24):
    """The ``count`` misclassified test images the model was surest of."""
    predicted = probabilities.argmax(-1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:count]
    plt = _pyplot()
    cols = 8
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2.7 * rows), dpi=DPI, squeeze=False)
    names = [str(c) for c in class_names]
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong, strict=False):
        _show(ax, images[i])
        ax.set_title(f"{names[labels[i]]} -> {names[predicted[i]]}\np={probabilities[i, predicted[i]]:.2f}",
                     fontsize=8)
    fig.suptitle("most confident mistakes on the test split (true -> predicted, probability)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return [int(i) for i in wrong]


def plot_reconstructions(images, reconstructions, path: str, count: int = 10) -> str:
    plt = _pyplot()
    count = min(count, len(images))
    fig, axes = plt.subplots(2, count, figsize=(1.6 * count, 3.6), dpi=DPI, squeeze=False)
    for i in range(count):
        _show(axes[0, i], images[i])
        _show(axes[1, i], np.asarray(reconstructions[i]).reshape(images[i].shape) * 255.0)
    axes[0, 0].set_title("test image", fontsize=8, loc="left")
    axes[1, 0].set_title("reconstruction", fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


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
    with open(path, "w") as f:
        f.write(page)
    return path


def test_outputs(recipe, workdir: str):
    """(images, labels, model outputs) on the test split, in order, from ``model.keras``."""
    import keras

    import kdl.data.augment  # noqa: F401  (registers kdl's serializable layers)
    import kdl.layers  # noqa: F401
    from kdl.training import prepare_data

    path = os.path.join(workdir, "model.keras")
    if not os.path.exists(path):
        raise ReportError(f"No trained model at {path}. Received: workdir={workdir!r}")
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    data = prepare_data(recipe)
    images, labels, outputs = [], [], []
    for x, y in data.test:
        images.append(x.numpy())
        labels.append(y.numpy())
        outputs.append(keras.ops.convert_to_numpy(model(x, training=False)))
    return (np.concatenate(images), np.concatenate(labels), np.concatenate(outputs), data)


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
    from kdl.tasks import get_task

    task = get_task(recipe.task)
    figures = [(os.path.basename(plot_curves(history, task.curve_metric,
                                             os.path.join(out, "curves.png"))),
                "loss, metric and learning rate per epoch")]
    if plot_hidden_units(history, os.path.join(out, "hidden_units.png")):
        figures.append(("hidden_units.png", "hidden units per layer over epochs"))
    numbers: dict = {"recipe": recipe.name, "test_metrics": result.get("test_metrics")}
    figures += task.report(recipe, workdir, out, numbers)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(numbers, f, indent=2)
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
    lower = "loss" in objective or "mse" in objective
    scored = [t for t in trials if t["score"] is not None]
    plt = _pyplot()
    fig, (ax, lr_ax) = plt.subplots(1, 2, figsize=(12, 4), dpi=DPI)
    xs = np.arange(1, len(scored) + 1)
    scores = np.array([t["score"] for t in scored], dtype="float64")
    best = (np.minimum if lower else np.maximum).accumulate(scores) if len(scores) else scores
    ax.plot(xs, scores, "o", label="trial")
    ax.plot(xs, best, "-", label="best so far")
    ax.set_xlabel("trial (in order)")
    ax.set_ylabel(objective)
    ax.set_title(f"{len(scored)} trials")
    ax.grid(alpha=0.3)
    ax.legend()
    lrs = [t["hyperparameters"].get("learning_rate") for t in scored]
    if scored and all(lr is not None for lr in lrs):
        lr_ax.scatter(lrs, scores)
        lr_ax.set_xscale("log")
        lr_ax.set_xlabel("learning rate")
    else:
        lr_ax.plot(xs, scores, "o")
        lr_ax.set_xlabel("trial")
    lr_ax.set_ylabel(objective)
    lr_ax.set_title(f"{objective} against the learning rate")
    lr_ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "trials.png"))
    plt.close(fig)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump({"objective": objective, "trials": trials}, f, indent=2)
    top = sorted(scored, key=lambda t: t["score"], reverse=not lower)[:1]
    summary = [("trials", str(len(trials))), ("objective", objective)]
    if top:
        summary.append(("best", f"{top[0]['score']:.4f} (trial {top[0]['trial_id']}: "
                                f"{top[0]['hyperparameters']})"))
    return _write_index(out, f"kdl search: {os.path.basename(project_dir.rstrip('/'))}",
                        summary, [("trials.png", "trials and the best so far")])
