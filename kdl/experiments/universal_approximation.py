"""One hidden layer of tanh units approximates a smooth function on an interval better
and better as it widens (Cybenko 1989, Hornik 1991; the course's universal
approximation theorem), fitted here by Adam on a 1-D target.

    kdl experiment universal_approximation
"""

from __future__ import annotations

import math

import numpy as np

from kdl.experiments import register_experiment
from kdl.plots import pyplot, save_figure


def target(x: np.ndarray) -> np.ndarray:
    return np.sin(3 * x) + 0.3 * x ** 2


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    widths = numbers["widths"]
    mse = numbers["mse"]  # mean over seeds, one per width
    narrow, wide = mse[0], mse[-1]
    improves = wide <= settings["max_ratio"] * narrow
    close = wide <= settings["max_mse"]
    why = (f"width {widths[0]}: MSE {narrow:.4g}; width {widths[-1]}: MSE {wide:.4g} "
           f"({'at most' if improves else 'more than'} {settings['max_ratio']:g}x the narrowest, "
           f"{'within' if close else 'above'} {settings['max_mse']:g})")
    return improves and close, why + "."


@register_experiment(
    "universal_approximation",
    claim="A network with one hidden layer approximates a continuous function on an "
          "interval as closely as wanted, given enough units.",
    settings={"widths": [1, 2, 4, 8, 32], "epochs": 3000, "points": 256,
              "learning_rate": 0.01, "max_ratio": 0.05, "max_mse": 0.005},
    smoke={"widths": [1, 16], "epochs": 300, "learning_rate": 0.03, "max_ratio": 0.9,
           "max_mse": 0.5},
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    import keras

    x = np.linspace(-2, 2, settings["points"], dtype="float32")[:, None]
    y = target(x).astype("float32")
    per_seed, fits = [], {}
    for seed in seeds:
        row = []
        for width in settings["widths"]:
            keras.utils.set_random_seed(seed)
            model = keras.Sequential([keras.Input((1,)),
                                      keras.layers.Dense(width, activation="tanh"),
                                      keras.layers.Dense(1)])
            model.compile(keras.optimizers.Adam(settings["learning_rate"]), "mse")
            # The same full-batch steps, `repeat` of them per Keras epoch (unshuffled copies
            # of the one batch): Keras' per-epoch overhead paid once per `repeat` steps.
            repeat = math.gcd(settings["epochs"], 100)
            model.fit(np.tile(x, (repeat, 1)), np.tile(y, (repeat, 1)), batch_size=len(x),
                      epochs=settings["epochs"] // repeat, shuffle=False, verbose=0)
            prediction = model.predict(x, verbose=0)
            row.append(float(np.mean((prediction - y) ** 2)))
            if seed == seeds[0]:
                fits[width] = prediction.ravel()
        per_seed.append(row)
    mse = np.mean(per_seed, axis=0)
    plt = pyplot()
    fig, (ax, err) = plt.subplots(1, 2, figsize=(12, 4), dpi=100)
    ax.plot(x.ravel(), y.ravel(), "k", linewidth=3, label="target sin(3x) + 0.3x²")
    for width, prediction in fits.items():
        ax.plot(x.ravel(), prediction, label=f"{width} hidden units")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.set_title(f"fits after {settings['epochs']} full-batch Adam steps (seed {seeds[0]})")
    ax.legend(fontsize=8)
    err.loglog(settings["widths"], mse, "o-")
    err.set_xlabel("hidden units")
    err.set_ylabel(f"mean squared error (mean of {len(seeds)} seed(s))")
    err.set_title("error against width")
    err.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save_figure(fig, figure)
    return {"widths": list(settings["widths"]), "mse": mse.tolist(), "mse_per_seed": per_seed,
            "table": [{"hidden units": w, "MSE": m} for w, m in zip(settings["widths"], mse,
                                                                   strict=True)]}
