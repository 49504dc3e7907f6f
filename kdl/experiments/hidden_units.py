"""Watching hidden units with kdl's ``ActivationMonitor``: ReLU units that die (never
active again) under too large a learning rate, and sigmoid and tanh units that saturate
(stuck near their bounds, where the gradient vanishes) when the initial weights are too
large; each against the same network trained sensibly (the course's "monitor hidden
units" advice).

    kdl experiment hidden_units
"""

from __future__ import annotations

import numpy as np

from kdl.experiments import register_experiment
from kdl.plots import pyplot, save_figure
from kdl.experiments._common import fashion_mnist

LARGE_INIT = {"class_name": "RandomNormal", "config": {"stddev": 1.0}}


def _runs(settings: dict) -> dict:
    """name -> (activation, kernel initializer, Adam learning rate, statistic watched)."""
    lr, high = settings["learning_rate"], settings["high_learning_rate"]
    return {"relu": ("relu", "he_normal", lr, "dead"),
            "relu, large lr": ("relu", "he_normal", high, "dead"),
            "tanh": ("tanh", "glorot_normal", lr, "saturated"),
            "tanh, large init": ("tanh", LARGE_INIT, lr, "saturated"),
            "sigmoid": ("sigmoid", "glorot_normal", lr, "saturated"),
            "sigmoid, large init": ("sigmoid", LARGE_INIT, lr, "saturated")}


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    final, margin = numbers["final"], settings["margin"]
    dies = final["relu, large lr"] >= final["relu"] + margin
    saturates = all(final[f"{a}, large init"] >= final[a] + margin for a in ("tanh", "sigmoid"))
    return dies and saturates, (
        f"dead ReLUs after training: {final['relu']:.1%} (lr {settings['learning_rate']:g}) vs "
        f"{final['relu, large lr']:.1%} (lr {settings['high_learning_rate']:g}); saturated "
        f"activations: tanh {final['tanh']:.1%} vs {final['tanh, large init']:.1%} with N(0, 1) "
        f"weights, sigmoid {final['sigmoid']:.1%} vs {final['sigmoid, large init']:.1%} "
        f"(a difference of {margin:.0%} or more counts).")


@register_experiment(
    "hidden_units",
    claim="ReLU units die under too large a learning rate, and sigmoid/tanh units saturate "
          "when the initial weights are too large.",
    settings={"train_examples": 10000, "test_examples": 2000, "epochs": 5, "batch_size": 64,
              "hidden_units": [256, 256, 256], "learning_rate": 1e-3,
              "high_learning_rate": 0.05, "margin": 0.1},
    smoke={"train_examples": 1024, "test_examples": 256, "epochs": 2, "hidden_units": [64, 64],
           "margin": 0.02},
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    import keras

    from kdl.callbacks import ActivationMonitor
    from kdl.models import get_model

    curves = {name: [] for name in _runs(settings)}
    test = {name: [] for name in _runs(settings)}
    for seed in seeds:
        data = fashion_mnist(settings["train_examples"], settings["test_examples"], seed=seed)
        for name, (activation, init, lr, stat) in _runs(settings).items():
            keras.utils.set_random_seed(seed)
            model = get_model("mlp", hidden_units=tuple(settings["hidden_units"]),
                              activation=activation, kernel_initializer=init)
            model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            monitor = ActivationMonitor(data["x_test"][:1000])
            model.fit(data["x"], data["y"], batch_size=settings["batch_size"],
                      epochs=settings["epochs"], verbose=0, callbacks=[monitor])
            # The fraction over all hidden layers, before training and after each epoch.
            curves[name].append([float(np.mean([v for k, v in row.items()
                                                if k.endswith(f"/{stat}")]))
                                 for row in monitor.history])
            test[name].append(float(model.evaluate(data["x_test"], data["y_test"],
                                                   batch_size=1024, verbose=0)[1]))
    mean = {name: np.mean(c, axis=0).tolist() for name, c in curves.items()}
    plt = pyplot()
    fig, (dead, sat) = plt.subplots(1, 2, figsize=(13, 4.5), dpi=100)
    for name, curve in mean.items():
        ax = dead if name.startswith("relu") else sat
        ax.plot(range(len(curve)), curve, "o-" if "large" in name else "o--",
                label=f"{name} (test acc {np.mean(test[name]):.2f})")
    dead.set_ylabel("dead ReLU units (fraction, all hidden layers)")
    sat.set_ylabel("saturated activations (within 2% of a bound)")
    for ax in (dead, sat):
        ax.set_xlabel("epoch (0: before training)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    dead.set_title(f"MLP {settings['hidden_units']}, Adam, {len(seeds)} seed(s)")
    sat.set_title("N(0, 1) weights against Glorot's")
    fig.tight_layout()
    save_figure(fig, figure)
    final = {name: curve[-1] for name, curve in mean.items()}
    return {"curves": mean, "final": final,
            "test_accuracy": {n: float(np.mean(v)) for n, v in test.items()},
            "table": [{"run": n, "before": mean[n][0], "after": final[n],
                       "test accuracy": float(np.mean(test[n]))} for n in mean]}
