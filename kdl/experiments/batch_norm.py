"""Batch normalization (Ioffe and Szegedy 2015) lets a network train at learning rates
that make the same network without it diverge or stall: kdl's MLP with and without
``batch_norm``, plain SGD over a sweep of learning rates.

    kdl experiment batch_norm
"""

from __future__ import annotations

import math

import numpy as np

from kdl.experiments import register_experiment
from kdl.plots import pyplot, save_figure
from kdl.experiments._common import fashion_mnist


def highest_that_trains(rates: list, accuracy: list, threshold: float) -> float | None:
    trained = [lr for lr, a in zip(rates, accuracy, strict=True) if a >= threshold]
    return max(trained) if trained else None


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    rates, t = settings["learning_rates"], settings["trained_accuracy"]
    plain = highest_that_trains(rates, numbers["accuracy"]["plain"], t)
    bn = highest_that_trains(rates, numbers["accuracy"]["batch_norm"], t)
    supported = bn is not None and (plain is None or bn > plain)
    return supported, (f"highest learning rate reaching {t:.2f} test accuracy: "
                       f"{plain if plain is not None else 'none'} without batch norm, "
                       f"{bn if bn is not None else 'none'} with it.")


@register_experiment(
    "batch_norm",
    claim="Batch normalization lets a network train at much larger learning rates than the "
          "same network without it.",
    settings={"learning_rates": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0],
              "hidden_units": [256, 256, 256, 256], "train_examples": 10000,
              "test_examples": 2000, "epochs": 3, "batch_size": 128, "trained_accuracy": 0.7},
    smoke={"learning_rates": [0.1, 3.0], "hidden_units": [64, 64], "train_examples": 2048,
           "test_examples": 256, "epochs": 2, "trained_accuracy": 0.5},
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    import keras

    from kdl.models import get_model

    acc = {"plain": [], "batch_norm": []}
    curves = {}
    for seed in seeds:
        data = fashion_mnist(settings["train_examples"], settings["test_examples"], seed=seed)
        for key in acc:
            row = []
            for lr in settings["learning_rates"]:
                keras.utils.set_random_seed(seed)
                model = get_model("mlp", hidden_units=tuple(settings["hidden_units"]),
                                  batch_norm=key == "batch_norm")
                model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy",
                              metrics=["accuracy"])
                history = model.fit(data["x"], data["y"], batch_size=settings["batch_size"],
                                    epochs=settings["epochs"], verbose=0)
                loss, accuracy = model.evaluate(data["x_test"], data["y_test"], batch_size=1024,
                                                verbose=0)
                row.append(float(accuracy) if math.isfinite(loss) else 0.0)
                if seed == seeds[0]:
                    curves[f"{key}/{lr:g}"] = [float(v) for v in history.history["loss"]]
            acc[key].append(row)
    mean = {k: np.mean(v, axis=0).tolist() for k, v in acc.items()}
    rates = settings["learning_rates"]
    plt = pyplot()
    fig, (ax, loss_ax) = plt.subplots(1, 2, figsize=(13, 4.5), dpi=100)
    for key, label in (("plain", "without batch norm"), ("batch_norm", "with batch norm")):
        ax.semilogx(rates, mean[key], marker="o", label=label)
    ax.axhline(settings["trained_accuracy"], color="k", linewidth=0.8, linestyle=":")
    ax.set_xlabel("SGD learning rate (log scale)")
    ax.set_ylabel("test accuracy (0 if the loss diverged)")
    ax.set_title(f"MLP {settings['hidden_units']}, {settings['epochs']} epochs, "
                 f"{len(seeds)} seed(s)")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    for key, curve in curves.items():
        kind, lr = key.split("/")
        finite = [v if math.isfinite(v) else np.nan for v in curve]
        loss_ax.plot(range(1, len(curve) + 1), finite, linestyle="-" if kind == "batch_norm" else ":",
                     marker="o", markersize=3, label=f"{'BN' if kind == 'batch_norm' else 'plain'}, lr {lr}")
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss (log scale; gaps: NaN)")
    loss_ax.set_title(f"training loss, seed {seeds[0]}")
    loss_ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_figure(fig, figure)
    table = [{"learning rate": lr, "without BN": a, "with BN": b}
             for lr, a, b in zip(rates, mean["plain"], mean["batch_norm"], strict=True)]
    return {"accuracy": mean, "accuracy_per_seed": acc, "table": table}
