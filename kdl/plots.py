"""Figures as PNG files (matplotlib, Agg backend: no display needed): one home for the
pictures of runs (:mod:`kdl.report`), tasks (:mod:`kdl.tasks`) and searches. Each takes
arrays or columns and a path, draws, saves and closes; none reads a workdir."""

from __future__ import annotations

import numpy as np

from kdl._files import atomic_path

DPI = 100


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str) -> str:
    """Save ``fig`` as the PNG ``path`` (whole or not at all: :mod:`kdl._files`), close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    pyplot().close(fig)
    return path


def plot_curves(history: dict, metric: str, path: str) -> str:
    plt = pyplot()
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
    save_figure(fig, path)
    return path


def plot_batch_loss(rows: list[dict], path: str) -> str:
    """:class:`kdl.callbacks.BatchLossLogger`'s rows: the training loss of each window of
    batches against the update step and against the seconds of training, with epoch
    boundaries marked."""
    plt = pyplot()
    steps = np.array([r["step"] for r in rows])
    seconds = np.array([r["seconds"] for r in rows])
    loss = np.array([r["loss"] for r in rows])
    starts = [r["step"] for i, r in enumerate(rows) if i and r["epoch"] != rows[i - 1]["epoch"]]
    fig, axes = plt.subplots(1, 2, figsize=(14, 4), dpi=DPI)
    for ax, x, label in ((axes[0], steps, "update step"), (axes[1], seconds,
                                                           "seconds of training")):
        ax.plot(x, loss, lw=0.8)
        ax.set_xlabel(label)
        ax.set_ylabel("training loss (mean of the logged window)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for step in starts:
        axes[0].axvline(step, color="grey", ls=":", lw=0.8)
    axes[0].set_title("per-batch loss; dotted: a new epoch", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
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
    plt = pyplot()
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
    save_figure(fig, path)
    return path


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Counts ``[true, predicted]``."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predicted.astype(np.int64)), 1)
    return matrix


def plot_confusion(matrix: np.ndarray, class_names, path: str) -> str:
    plt = pyplot()
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
    save_figure(fig, path)
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
    plt = pyplot()
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
    save_figure(fig, path)
    return [int(i) for i in wrong]


def plot_reconstructions(images, reconstructions, path: str, count: int = 10) -> str:
    plt = pyplot()
    count = min(count, len(images))
    fig, axes = plt.subplots(2, count, figsize=(1.6 * count, 3.6), dpi=DPI, squeeze=False)
    for i in range(count):
        _show(axes[0, i], images[i])
        _show(axes[1, i], np.asarray(reconstructions[i]).reshape(images[i].shape) * 255.0)
    axes[0, 0].set_title("test image", fontsize=8, loc="left")
    axes[1, 0].set_title("reconstruction", fontsize=8, loc="left")
    fig.tight_layout()
    save_figure(fig, path)
    return path


def plot_trials(scored: list[dict], objective: str, lower: bool, path: str) -> str:
    """KerasTuner trials in order with the best so far, and score against learning rate."""
    plt = pyplot()
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
    save_figure(fig, path)
    return path


def plot_lr_find(rates, losses, smoothed, suggested, min_over_ten, diverged_at,
                 recipe_rate, path: str) -> str:
    """The learning-rate range test (:mod:`kdl.engine.lr_find`): each batch's loss and its
    smoothed curve against the rate (log scale), the suggested rates, the recipe's own
    rate and where the loss diverged."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=DPI)
    rates = np.asarray(rates, "float64")
    ax.plot(rates, losses, ".", alpha=0.25, markersize=3, label="batch loss")
    smoothed = np.asarray([np.nan if v is None else v for v in smoothed], "float64")
    ax.plot(rates, smoothed, "-", label="smoothed (centred mean, 5% of batches)")
    marks = ((suggested, "C2", "steepest fall"), (min_over_ten, "C4", "minimum / 10"),
             (recipe_rate, "k", "the recipe's rate"), (diverged_at, "C3", "diverged"))
    for rate, color, label in marks:
        if rate is not None:
            ax.axvline(rate, color=color, linestyle="--", label=f"{label}: {rate:.2g}")
    finite = np.asarray(smoothed, "float64")
    finite = finite[np.isfinite(finite)]
    if len(finite):  # the divergence's tail would hide the curve
        ax.set_ylim(finite.min() * 0.9, min(finite.max(), finite[0] * 1.5) * 1.05)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("learning-rate range test")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
