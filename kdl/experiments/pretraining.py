"""Greedy layer-wise pretraining of a stacked denoising autoencoder (Vincent et al. 2010)
on all the images, then fine-tuning on a few labelled ones, against the same network
trained from scratch on those labels alone: the course's "unsupervised pretraining
helps when labels are few".

    kdl experiment pretraining
"""

from __future__ import annotations

import numpy as np

from kdl.experiments import register_experiment
from kdl.plots import pyplot, save_figure
from kdl.experiments._common import fashion_mnist


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    fractions = settings["label_fractions"]
    gain = numbers["gain"]  # fraction -> pretrained minus scratch test accuracy (mean)
    fewest, most = str(fractions[0]), str(fractions[-1])
    helps = gain[fewest] > settings["min_gain"]
    shrinks = gain[fewest] > gain[most]
    return helps and shrinks, (
        f"pretrained minus scratch test accuracy: {gain[fewest]:+.3f} with {float(fewest):.0%} of "
        f"the labels, {gain[most]:+.3f} with {float(most):.0%} (helps with few labels: "
        f"{'yes' if helps else 'no'}, more than with many: {'yes' if shrinks else 'no'}).")


@register_experiment(
    "pretraining",
    claim="Unsupervised greedy layer-wise pretraining (a stacked denoising autoencoder) "
          "improves a classifier when labels are few, and matters less as labels grow.",
    settings={"images": 20000, "test_examples": 5000, "label_fractions": [0.01, 0.1, 1.0],
              "hidden_units": [500, 500, 500], "activation": "sigmoid",
              "epochs_per_layer": 5, "fine_tune_updates": 1500, "batch_size": 64,
              "corruption_level": 0.25, "min_gain": 0.01},
    smoke={"images": 1000, "test_examples": 500, "label_fractions": [0.05, 1.0],
           "hidden_units": [64, 64], "epochs_per_layer": 1, "fine_tune_updates": 50},
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    import keras

    from kdl.models import get_model, pretrain_stacked_denoising_autoencoder

    fractions = settings["label_fractions"]
    acc = {kind: {str(f): [] for f in fractions} for kind in ("scratch", "pretrained")}
    for seed in seeds:
        data = fashion_mnist(settings["images"], settings["test_examples"], seed=seed)
        keras.utils.set_random_seed(seed)
        args = dict(hidden_units=tuple(settings["hidden_units"]),
                    activation=settings["activation"])
        pretrained = get_model("stacked_denoising_autoencoder", **args)
        pretrain_stacked_denoising_autoencoder(
            pretrained, data["x"], epochs_per_layer=settings["epochs_per_layer"],
            corruption_level=settings["corruption_level"], seed=seed)
        start = pretrained.get_weights()
        for fraction in fractions:
            n = max(10, int(round(fraction * len(data["x"]))))
            x, y = data["x"][:n], data["y"][:n]
            # The same number of updates for every label count, so that few labels are
            # not also few steps.
            epochs = max(1, -(-settings["fine_tune_updates"] * settings["batch_size"] // n))
            for kind in ("scratch", "pretrained"):
                keras.utils.set_random_seed(seed)
                model = get_model("stacked_denoising_autoencoder", **args)
                if kind == "pretrained":
                    model.set_weights(start)
                model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                              metrics=["accuracy"])
                model.fit(x, y, batch_size=min(settings["batch_size"], n), epochs=epochs,
                          verbose=0)
                acc[kind][str(fraction)].append(float(model.evaluate(
                    data["x_test"], data["y_test"], batch_size=1024, verbose=0)[1]))
    mean = {k: {f: float(np.mean(v)) for f, v in row.items()} for k, row in acc.items()}
    gain = {f: mean["pretrained"][f] - mean["scratch"][f] for f in mean["scratch"]}
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    labels = [max(10, int(round(f * settings["images"]))) for f in fractions]
    for kind, style in (("scratch", "o--"), ("pretrained", "o-")):
        ax.semilogx(labels, [mean[kind][str(f)] for f in fractions], style,
                    label=f"{kind}" + (" (SDAE, greedy)" if kind == "pretrained" else ""))
    ax.set_xlabel(f"labelled training images (of {settings['images']} seen by pretraining)")
    ax.set_ylabel(f"test accuracy ({settings['test_examples']} images)")
    ax.set_title(f"SDAE {settings['hidden_units']} {settings['activation']}, "
                 f"{len(seeds)} seed(s)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, figure)
    table = [{"labels": n, "scratch": mean["scratch"][str(f)],
              "pretrained": mean["pretrained"][str(f)], "gain": gain[str(f)]}
             for n, f in zip(labels, fractions, strict=True)]
    return {"accuracy": mean, "accuracy_per_seed": acc, "gain": gain, "table": table}
