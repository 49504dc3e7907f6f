"""SGD, momentum, Nesterov, Adagrad, RMSprop, Adam and NAdam on one MLP and one data set,
each at the learning rate the course gives as its usual starting point (the course's
optimization lecture; Kingma and Ba 2015 for Adam's 1e-3).

    kdl experiment optimizers --seeds 3
"""

from __future__ import annotations

import numpy as np

from kdl.experiments import register_experiment
from kdl.plots import pyplot, save_figure
from kdl.experiments._common import fashion_mnist, mean_curve, optimizer

# The usual starting learning rates: 0.01-0.1 for SGD and its momentum forms, 1e-3 for
# the adaptive ones (Adagrad's accumulator makes it need a larger one).
LEARNING_RATES = {"sgd": 0.05, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05,
                  "rmsprop": 1e-3, "adam": 1e-3, "nadam": 1e-3}


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    final = numbers["final_train_loss"]  # optimizer -> mean over seeds
    sgd = final["sgd"]
    faster = {name: final[name] < sgd for name in ("momentum", "adam")}
    why = ", ".join(f"{name} {final[name]:.3f}" for name in ("sgd", "momentum", "adam"))
    best = min(final, key=final.get)
    return all(faster.values()), (
        f"final training loss {why} ({'both' if all(faster.values()) else 'not both'} below "
        f"plain SGD); lowest: {best} {final[best]:.3f}.")


@register_experiment(
    "optimizers",
    claim="Momentum and adaptive methods (Adam) drive the training loss down faster than "
          "plain SGD in the same number of updates.",
    settings={"optimizers": list(LEARNING_RATES), "learning_rates": LEARNING_RATES,
              "train_examples": 20000, "test_examples": 5000, "epochs": 10,
              "batch_size": 128, "hidden_units": [256, 128]},
    smoke={"train_examples": 1024, "test_examples": 256, "epochs": 2, "hidden_units": [32]},
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    import keras

    from kdl.models import get_model

    curves = {name: [] for name in settings["optimizers"]}
    test_accuracy = {name: [] for name in settings["optimizers"]}
    for seed in seeds:
        data = fashion_mnist(settings["train_examples"], settings["test_examples"], seed=seed)
        for name in settings["optimizers"]:
            keras.utils.set_random_seed(seed)  # the same initial weights for every optimizer
            model = get_model("mlp", hidden_units=tuple(settings["hidden_units"]))
            model.compile(optimizer(name, settings["learning_rates"][name]),
                          "sparse_categorical_crossentropy", metrics=["accuracy"])
            initial = model.evaluate(data["x"], data["y"], batch_size=1024, verbose=0)[0]
            history = model.fit(data["x"], data["y"], batch_size=settings["batch_size"],
                                epochs=settings["epochs"], verbose=0, shuffle=True)
            curves[name].append([float(initial), *map(float, history.history["loss"])])
            test_accuracy[name].append(float(model.evaluate(
                data["x_test"], data["y_test"], batch_size=1024, verbose=0)[1]))
    mean = {name: mean_curve(c) for name, c in curves.items()}
    plt = pyplot()
    fig, (ax, bar) = plt.subplots(1, 2, figsize=(13, 4.5), dpi=100)
    for name, curve in mean.items():
        ax.plot(range(len(curve)), curve, marker="o", markersize=3,
                label=f"{name} (lr {settings['learning_rates'][name]:g})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (cross-entropy, log scale)")
    ax.set_title(f"MLP {settings['hidden_units']} on {settings['train_examples']} "
                 f"Fashion-MNIST images, mean of {len(seeds)} seed(s)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    names = list(mean)
    bar.bar(names, [np.mean(test_accuracy[n]) for n in names],
            yerr=[np.std(test_accuracy[n]) for n in names], color="tab:gray")
    bar.set_ylim(min(np.mean(v) for v in test_accuracy.values()) - 0.05, 1.0)
    bar.set_ylabel("test accuracy")
    bar.set_title(f"after {settings['epochs']} epochs ({settings['test_examples']} test images)")
    fig.tight_layout()
    save_figure(fig, figure)
    final = {name: curve[-1] for name, curve in mean.items()}
    return {"loss_curves": mean, "loss_curves_per_seed": curves, "final_train_loss": final,
            "test_accuracy": {n: float(np.mean(v)) for n, v in test_accuracy.items()},
            "table": [{"optimizer": n, "learning rate": settings["learning_rates"][n],
                       "final train loss": final[n],
                       "test accuracy": float(np.mean(test_accuracy[n]))} for n in names]}
