"""Depth degradation: a deeper plain network trains worse than a shallower one, and
shortcuts remove the penalty (He, Zhang, Ren and Sun 2016, figures 1 and 6).

kdl's CIFAR ResNets at 20 and 56 layers (``resnet20``, ``resnet56``), each with its
option-A shortcuts ("residual") and with ``shortcut=None`` ("plain": the same
convolutions and batch norms, no adds), on a subset of Fashion-MNIST at 28x28, at half the
paper's widths (8/16/32 filters) so that four nets a seed fit a CPU. Every arm trains with
the same SGD with momentum at one constant rate, no weight decay and no augmentation: the
claim is about optimization, so it is judged on the training loss (each epoch's mean over
its batches, as the paper plots training error), not on test accuracy, which is reported.

Why this is not the vanishing-gradient story: every conv is followed by batch norm, so the
signal is kept at initialization (``kdl experiment deep_signal`` shows it); the paper's
point is that the deeper plain net, which could copy the shallower one and make its extra
layers identities, does not find that solution, while the residual one starts from it.

Each depth and arm shares a seed (the images, the initialization of what the arms share,
the batch order), so the contrasts are paired, with 95% t intervals. Judged as settled
before the run, on the last epoch's training loss: plain-56 minus plain-20 has an interval
above zero (depth hurts the plain net), and the residual net's depth penalty is smaller than
the plain net's ((residual-56 - residual-20) - (plain-56 - plain-20): interval below zero).

What came out (3 seeds, Intel Xeon 6/167 with AMX, ``kdl experiment depth_degradation
--record``, 1,365 s beside other work): supported. After 12 epochs (192 updates) on 2,000
images the plain net's training loss was 0.396 at 20 layers and 0.894 at 56 (+0.498
[+0.281, +0.716]); the residual nets' 0.248 and 0.283, a depth penalty 0.463 [0.135, 0.791]
smaller. The test accuracies, reported and not judged, are low and spread (0.13 plain-56 to
0.60 residual-20, std up to 0.19 across seeds) after so few updates on so few images: this
setting measures optimization, not what these nets reach. Nothing was tuned after the run.

    kdl experiment depth_degradation
"""

from __future__ import annotations

import numpy as np

from kdl.experiments import register_experiment
from kdl.experiments._common import fashion_mnist, interval_text, paired_interval
from kdl.plots import pyplot, save_figure

ARMS = ("plain", "residual")
SHORTCUT = {"plain": None, "residual": "A"}


def _fit(data: dict, depth: int, arm: str, settings: dict, seed: int) -> dict:
    import keras

    from kdl.models import get_model

    keras.utils.set_random_seed(seed)
    model = get_model(f"resnet{depth}", input_shape=data["x"].shape[1:], classes=10,
                      shortcut=SHORTCUT[arm], width_multiplier=settings["width_multiplier"],
                      kernel_initializer="he_normal")
    model.compile(keras.optimizers.SGD(settings["learning_rate"], momentum=0.9),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(data["x"], data["y"], batch_size=settings["batch_size"],
                        epochs=settings["epochs"], verbose=0)
    _, test_accuracy = model.evaluate(data["x_test"], data["y_test"], batch_size=512,
                                      verbose=0)
    return {"loss": [float(v) for v in history.history["loss"]],
            "test_accuracy": float(test_accuracy)}


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    shallow, deep = (str(d) for d in settings["depths"])
    loss = numbers["train_loss"]
    penalty, relief = numbers["plain_depth_penalty"], numbers["shortcut_relief"]
    degrades = penalty["low"] is not None and penalty["low"] > 0
    relieved = relief["high"] is not None and relief["high"] < 0
    return degrades and relieved, (
        f"training loss after {settings['epochs']} epochs on {settings['train_examples']} "
        f"images: plain {shallow} layers {loss['plain'][shallow]['mean']:.3f}, {deep} layers "
        f"{loss['plain'][deep]['mean']:.3f} (deeper minus shallower {interval_text(penalty)}, "
        f"{'above' if degrades else 'not above'} zero); residual {shallow} "
        f"{loss['residual'][shallow]['mean']:.3f}, {deep} {loss['residual'][deep]['mean']:.3f}; "
        f"the residual net's depth penalty minus the plain net's {interval_text(relief)} "
        f"({'below' if relieved else 'not below'} zero).")


@register_experiment(
    "depth_degradation",
    claim="A deeper plain network reaches a higher training loss than a shallower one "
          "(degradation, not overfitting), and residual shortcuts remove that penalty.",
    settings={"depths": [20, 56], "train_examples": 2000, "test_examples": 2000,
              "epochs": 12, "batch_size": 128, "learning_rate": 0.05,
              "width_multiplier": 0.5},
    smoke={"depths": [20, 32], "train_examples": 128, "test_examples": 64, "epochs": 1,
           "width_multiplier": 0.25},
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    depths = [int(d) for d in settings["depths"]]
    if len(depths) != 2 or depths[0] >= depths[1]:
        raise ValueError(f"depth_degradation compares two depths, shallower first. "
                         f"Received: depths={settings['depths']!r}")
    curves = {arm: {str(d): [] for d in depths} for arm in ARMS}
    test = {arm: {str(d): [] for d in depths} for arm in ARMS}
    for seed in seeds:
        data = fashion_mnist(settings["train_examples"], settings["test_examples"], seed=seed)
        for arm in ARMS:
            for depth in depths:
                fitted = _fit(data, depth, arm, settings, seed)
                curves[arm][str(depth)].append(fitted["loss"])
                test[arm][str(depth)].append(fitted["test_accuracy"])
    last = {arm: {d: np.array([c[-1] for c in runs]) for d, runs in table.items()}
            for arm, table in curves.items()}
    shallow, deep = str(depths[0]), str(depths[1])

    def spread(values):
        return {"mean": float(np.mean(values)), "std": float(np.std(values))}

    plain_penalty = last["plain"][deep] - last["plain"][shallow]
    residual_penalty = last["residual"][deep] - last["residual"][shallow]
    numbers = {
        "train_loss": {arm: {d: spread(v) for d, v in table.items()}
                       for arm, table in last.items()},
        "test_accuracy": {arm: {d: spread(v) for d, v in table.items()}
                          for arm, table in test.items()},
        "plain_depth_penalty": paired_interval(plain_penalty),
        "residual_depth_penalty": paired_interval(residual_penalty),
        "shortcut_relief": paired_interval(residual_penalty - plain_penalty),
        "per_seed": {"train_loss_curves": curves, "test_accuracy": test}}
    numbers["table"] = [{"net": f"{arm}-{d}", "train loss (last epoch)":
                         numbers["train_loss"][arm][str(d)]["mean"],
                         "test accuracy": numbers["test_accuracy"][arm][str(d)]["mean"]}
                        for arm in ARMS for d in depths]
    _draw(curves, settings, len(seeds), figure)
    return numbers


def _draw(curves: dict, settings: dict, n_seeds: int, figure: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8), dpi=100, sharey=True)
    for ax, arm in zip(axes, ARMS, strict=True):
        for depth, runs in curves[arm].items():
            runs = np.array(runs)
            mean, std = runs.mean(axis=0), runs.std(axis=0)
            epochs = np.arange(1, len(mean) + 1)
            (line,) = ax.plot(epochs, mean, label=f"{arm}-{depth}",
                              lw=2 if depth == str(max(map(int, curves[arm]))) else 1)
            ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(f"{arm} nets ({'no shortcuts' if arm == 'plain' else 'option-A shortcuts'})",
                     fontsize=10)
        ax.legend()
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"training loss (epoch mean; mean ± std, {n_seeds} seed(s))")
    fig.suptitle(f"{settings['train_examples']} Fashion-MNIST images, SGD momentum at "
                 f"{settings['learning_rate']}, widths x{settings['width_multiplier']}",
                 fontsize=10)
    fig.tight_layout()
    save_figure(fig, figure)
