"""Capacity: how many random labels a network can memorize grows with its size (Zhang et
al. 2017; Arpit et al. 2017, "A closer look at memorization in deep networks").

One hidden layer of 4 to 1024 ReLU units, kdl's MLP builder, trained with Adam for a fixed
budget of epochs on a few thousand Fashion-MNIST images whose labels are all redrawn at
random (:func:`kdl.data.dataset.noisy_labels`, the recipe field ``label_noise``'s function)
and, as the contrast, on their real labels. Random labels have no structure to learn: what
a net fits of them is what it can store, so the fitted share should climb with the number
of weights and reach all of them only once the weights far outnumber the examples. Real
labels are fitted by every size well beyond what it can store of noise.

Each width shares a seed across arms (the images, the labels drawn, the initialization),
so the contrasts are paired with 95% t intervals over 3 seeds. Judged as settled before the
run: on random labels the widest net's training accuracy is at least 0.95 and the narrowest
at most 0.5, the widest minus the narrowest has an interval above zero, and at the narrowest
width the real labels are fitted better than the random ones (interval above zero).

What came out (3 seeds, AMD EPYC 25/1, ``kdl experiment capacity --record``): supported,
narrowly at the wide end. 4 units fit 0.193 of the random labels, 1024 units 0.954 (one
seed below 0.95, the mean above it: 60 epochs is only just enough), widest minus narrowest
+0.761 [+0.640, +0.882]; at 4 units the real labels fit to 0.772. The fitted share climbs
with the weights through every width; within this budget it took some 400 weights an image
(1024 units; 256 units, 100 an image, fit 0.90) to fit nearly all of 2,000 random labels.

    kdl experiment capacity
"""

from __future__ import annotations

import numpy as np

from kdl.experiments import register_experiment
from kdl.experiments._common import fashion_mnist, interval_text, paired_interval
from kdl.plots import pyplot, save_figure

FIT = 0.95


def _fit(x, y, width: int, settings: dict, seed: int) -> list[float]:
    """The training accuracy per epoch of a one-hidden-layer MLP of ``width`` units."""
    import keras

    from kdl.models import get_model

    keras.utils.set_random_seed(seed)
    model = get_model("mlp", hidden_units=(int(width),), dropout=0.0)
    model.compile(keras.optimizers.Adam(settings["learning_rate"]),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=settings["batch_size"], epochs=settings["epochs"],
                        verbose=0)
    return [float(a) for a in history.history["accuracy"]]


def parameters(width: int, inputs: int = 784, classes: int = 10) -> int:
    return inputs * width + width + width * classes + classes


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    widths = [str(w) for w in settings["widths"]]
    narrow, wide = widths[0], widths[-1]
    noise, real = numbers["train_accuracy"]["random"], numbers["train_accuracy"]["real"]
    growth, structure = numbers["widest_minus_narrowest"], numbers["real_minus_random_narrowest"]
    wide_fits = noise[wide]["mean"] >= FIT
    narrow_cannot = noise[narrow]["mean"] <= 0.5
    grows = growth["low"] is not None and growth["low"] > 0
    structured = structure["low"] is not None and structure["low"] > 0
    return wide_fits and narrow_cannot and grows and structured, (
        f"training accuracy on {settings['train_examples']} randomly labelled images after "
        f"{settings['epochs']} epochs: {narrow} units ({parameters(int(narrow)):,} weights) "
        f"{noise[narrow]['mean']:.3f} ({'at most' if narrow_cannot else 'above'} 0.5), {wide} "
        f"units ({parameters(int(wide)):,} weights) {noise[wide]['mean']:.3f} "
        f"({'at least' if wide_fits else 'below'} {FIT}); widest minus narrowest "
        f"{interval_text(growth)}; at {narrow} units the real labels fitted to "
        f"{real[narrow]['mean']:.3f}, {interval_text(structure)} above the random ones.")


@register_experiment(
    "capacity",
    claim="How many random labels a network can memorize grows with its number of weights: "
          "a narrow MLP fits at most half of a few thousand random labels, a wide one all of "
          "them, while even the narrow one fits the real labels better.",
    settings={"widths": [4, 16, 64, 256, 1024], "train_examples": 2000, "epochs": 60,
              "batch_size": 128, "learning_rate": 1e-3},
    smoke={"widths": [4, 64], "train_examples": 256, "epochs": 3},
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    from kdl.data.dataset import noisy_labels

    widths = [int(w) for w in settings["widths"]]
    curves = {arm: {str(w): [] for w in widths} for arm in ("random", "real")}
    for seed in seeds:
        data = fashion_mnist(settings["train_examples"], 1, seed=seed)
        labels = {"real": data["y"], "random": noisy_labels(data["y"], 1.0, 10, seed=seed)}
        for arm, y in labels.items():
            for width in widths:
                curves[arm][str(width)].append(_fit(data["x"], y, width, settings, seed))
    last = {arm: {w: np.array([c[-1] for c in runs]) for w, runs in table.items()}
            for arm, table in curves.items()}
    narrow, wide = str(widths[0]), str(widths[-1])
    numbers = {
        "parameters": {str(w): parameters(w) for w in widths},
        "train_accuracy": {arm: {w: {"mean": float(v.mean()), "std": float(v.std())}
                                 for w, v in table.items()} for arm, table in last.items()},
        "widest_minus_narrowest": paired_interval(last["random"][wide] - last["random"][narrow]),
        "real_minus_random_narrowest": paired_interval(
            last["real"][narrow] - last["random"][narrow]),
        "per_seed": {arm: {w: v.tolist() for w, v in table.items()}
                     for arm, table in last.items()}}
    numbers["table"] = [{"width": w, "weights": parameters(w),
                         "train accuracy, random labels":
                             numbers["train_accuracy"]["random"][str(w)]["mean"],
                         "train accuracy, real labels":
                             numbers["train_accuracy"]["real"][str(w)]["mean"]} for w in widths]
    _draw(curves, numbers, widths, settings, len(seeds), figure)
    return numbers


def _draw(curves, numbers, widths, settings, n_seeds, figure) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 4.8), dpi=100)
    weights = [parameters(w) for w in widths]
    for arm, style in (("random", "o-"), ("real", "s--")):
        means = np.array([numbers["train_accuracy"][arm][str(w)]["mean"] for w in widths])
        stds = np.array([numbers["train_accuracy"][arm][str(w)]["std"] for w in widths])
        left.errorbar(weights, means, yerr=stds, fmt=style, capsize=4, label=f"{arm} labels")
    left.axvline(settings["train_examples"], color="grey", ls=":", lw=1)
    left.text(settings["train_examples"], 0.02, " as many weights as images", fontsize=8)
    left.set_xscale("log")
    left.set_xlabel("weights (one hidden layer of 4 ... 1024 units)")
    left.set_ylabel(f"training accuracy after {settings['epochs']} epochs\n"
                    f"(mean ± std, {n_seeds} seed(s))")
    left.set_ylim(0, 1.02)
    left.legend()
    left.grid(alpha=0.3)
    for w in widths:
        runs = np.array(curves["random"][str(w)])
        mean, std = runs.mean(axis=0), runs.std(axis=0)
        epochs = np.arange(1, len(mean) + 1)
        (line,) = right.plot(epochs, mean, label=f"{w} units")
        right.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    right.axhline(FIT, color="grey", ls=":", lw=1)
    right.set_xlabel("epoch")
    right.set_ylabel("training accuracy, random labels")
    right.set_title(f"{settings['train_examples']} Fashion-MNIST images, every label random",
                    fontsize=10)
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, figure)
