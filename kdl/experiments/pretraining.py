"""Greedy layer-wise pretraining of a stacked denoising autoencoder (Vincent et al. 2010)
on all the training images, then supervised training on a few labelled ones, against the
same network trained from scratch on those labels alone: the course's "unsupervised
pretraining helps when labels are few", in the regime Erhan et al. (2010, "Why does
unsupervised pre-training help deep learning?") measured it.

That regime: a deep sigmoid net (4 hidden layers of 500), plain SGD (no momentum, one
constant rate) for the supervised phase of both arms, pretraining on every image of the
training split (54,000: Fashion-MNIST's 60,000 less the validation carve), and 10, 100 and
1,000 labels a class on average (100, 1,000 and 10,000 labelled images, a random draw per
seed), each arm stopping early on a held-out labelled split (2,000 images; patience 10
epochs, the best epoch's weights kept) within a budget of ``max_updates``. ``kdl train
sdae_fashion_mnist --set max_labeled_examples=100`` runs one arm of it as a recipe (the
recipe field: the fit sees that many labels, the pretraining every image).

Why redesigned (issue 31): the first version (NOT supported) ran where the claim barely
applies: 3 sigmoid layers with Glorot's initialization and Adam train fine from scratch;
20,000 unlabelled images, not all of them; both arms 1,500 Adam updates with no early
stopping (480 epochs on 200 labels); 2 seeds against a 0.01 threshold.

Each seed's arms share the labelled images and the initialization of what pretraining
does not set, so the contrasts are paired (95% t intervals over the seeds). Judged as
settled before the run: at the fewest labels, pretrained minus scratch test accuracy above
zero; and that gain larger at the fewest labels than at the most (the difference of the two
gains above zero).

What came out (3 seeds, Intel Xeon 6/167 with AMX, ``kdl experiment pretraining --record``,
773 s, alone): supported. Test accuracy from scratch 0.099 / 0.566 / 0.614 and pretrained
0.668 / 0.801 / 0.811 at 100 / 1,000 / 10,000 labels; the gain +0.568 [+0.449, +0.687] at
100 labels, +0.197 [+0.174, +0.219] at 10,000, and the difference of the two +0.371
[+0.231, +0.512]. Read with care: the scratch arm never stopped early at 100 labels (300
epochs, 1,200 updates, and still at chance) and ran its whole budget at 10,000 (10 epochs,
3,130 updates), so the scratch numbers are limited by the update budget as much as by the
labels: the claim holds at this budget, and a larger one was not tried. Nothing was changed
after the run.

    kdl experiment pretraining
"""

from __future__ import annotations

import math

import numpy as np

from kdl.experiments import register_experiment
from kdl.experiments._common import accuracy, fashion_mnist, interval_text, paired_interval
from kdl.plots import pyplot, save_figure

ARMS = ("scratch", "pretrained")


def epochs_for(labels: int, settings: dict) -> int:
    steps = math.ceil(labels / settings["batch_size"])
    return int(min(settings["max_epochs"], math.ceil(settings["max_updates"] / steps)))


def _fine_tune(model, data: dict, labels: int, settings: dict) -> tuple[float, int]:
    """Plain SGD on the first ``labels`` images with early stopping on the validation
    split; returns the test accuracy and the epochs run."""
    import keras

    model.compile(keras.optimizers.SGD(settings["learning_rate"]),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings["patience"],
                                         restore_best_weights=True)
    history = model.fit(data["x"][:labels], data["y"][:labels],
                        batch_size=min(settings["batch_size"], labels),
                        epochs=epochs_for(labels, settings),
                        validation_data=(data["x_val"], data["y_val"]), callbacks=[stop],
                        verbose=0)
    return accuracy(model, data["x_test"], data["y_test"]), len(history.history["loss"])


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    counts = [str(n) for n in settings["labels"]]
    fewest, most = counts[0], counts[-1]
    gain, shrink = numbers["pretrained_minus_scratch"], numbers["gain_fewest_minus_most"]
    helps = gain[fewest]["low"] is not None and gain[fewest]["low"] > 0
    shrinks = shrink["low"] is not None and shrink["low"] > 0
    acc = numbers["test_accuracy"]
    return helps and shrinks, (
        f"test accuracy with {fewest} labels: scratch {acc['scratch'][fewest]['mean']:.3f}, "
        f"pretrained {acc['pretrained'][fewest]['mean']:.3f} (gain {interval_text(gain[fewest])}"
        f", {'above' if helps else 'not above'} zero); with {most}: gain "
        f"{interval_text(gain[most])}; the gain at {fewest} minus at {most} "
        f"{interval_text(shrink)} ({'above' if shrinks else 'not above'} zero).")


@register_experiment(
    "pretraining",
    claim="Unsupervised greedy layer-wise pretraining (a stacked denoising autoencoder) "
          "improves a deep sigmoid classifier trained by SGD when labels are few, and "
          "matters less as labels grow.",
    settings={"images": 54000, "validation_examples": 2000, "test_examples": 5000,
              "labels": [100, 1000, 10000], "hidden_units": [500, 500, 500, 500],
              "activation": "sigmoid", "epochs_per_layer": 3, "corruption_level": 0.25,
              "learning_rate": 0.1, "batch_size": 32, "max_updates": 3000, "max_epochs": 300,
              "patience": 10},
    smoke={"images": 1000, "validation_examples": 200, "test_examples": 500,
           "labels": [50, 500], "hidden_units": [64, 64], "epochs_per_layer": 1,
           "max_updates": 40, "max_epochs": 5},
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    import keras

    from kdl.models import get_model, pretrain_stacked_denoising_autoencoder

    counts = [int(n) for n in settings["labels"]]
    if max(counts) > settings["images"]:
        raise ValueError(f"pretraining labels a share of its images. Received: "
                         f"labels={settings['labels']!r}, images={settings['images']!r}")
    args = dict(hidden_units=tuple(settings["hidden_units"]), activation=settings["activation"])
    acc = {arm: {str(n): [] for n in counts} for arm in ARMS}
    epochs = {arm: {str(n): [] for n in counts} for arm in ARMS}
    reports = []
    for seed in seeds:
        data = fashion_mnist(settings["images"], settings["test_examples"], seed=seed,
                             validation=settings["validation_examples"])
        keras.utils.set_random_seed(seed)
        pretrained = get_model("stacked_denoising_autoencoder", **args)
        scratch_start = pretrained.get_weights()
        reports.append(pretrain_stacked_denoising_autoencoder(
            pretrained, data["x"], epochs_per_layer=settings["epochs_per_layer"],
            corruption_level=settings["corruption_level"], seed=seed))
        starts = {"scratch": scratch_start, "pretrained": pretrained.get_weights()}
        for n in counts:
            for arm in ARMS:
                keras.utils.set_random_seed(seed)
                model = get_model("stacked_denoising_autoencoder", **args)
                model.set_weights(starts[arm])
                score, ran = _fine_tune(model, data, n, settings)
                acc[arm][str(n)].append(score)
                epochs[arm][str(n)].append(ran)
    a = {arm: {n: np.array(v) for n, v in t.items()} for arm, t in acc.items()}
    gain = {n: a["pretrained"][n] - a["scratch"][n] for n in a["scratch"]}
    fewest, most = str(counts[0]), str(counts[-1])
    numbers = {
        "test_accuracy": {arm: {n: {"mean": float(v.mean()), "std": float(v.std())}
                                for n, v in t.items()} for arm, t in a.items()},
        "pretrained_minus_scratch": {n: paired_interval(g) for n, g in gain.items()},
        "gain_fewest_minus_most": paired_interval(gain[fewest] - gain[most]),
        "epochs_run": epochs, "pretraining_report": reports[0], "per_seed": acc}
    numbers["table"] = [{"labelled images": n, "epochs (budget)": epochs_for(n, settings),
                         "scratch": numbers["test_accuracy"]["scratch"][str(n)]["mean"],
                         "pretrained": numbers["test_accuracy"]["pretrained"][str(n)]["mean"],
                         "gain": numbers["pretrained_minus_scratch"][str(n)]["mean"]}
                        for n in counts]
    _draw(numbers, counts, settings, len(seeds), figure)
    return numbers


def _draw(numbers: dict, counts: list, settings: dict, n_seeds: int, figure: str) -> None:
    plt = pyplot()
    fig, (ax, gains) = plt.subplots(1, 2, figsize=(14, 4.8), dpi=100)
    for arm, style in (("scratch", "o--"), ("pretrained", "o-")):
        table = numbers["test_accuracy"][arm]
        ax.errorbar(counts, [table[str(n)]["mean"] for n in counts],
                    yerr=[table[str(n)]["std"] for n in counts], fmt=style, capsize=4,
                    label=arm + (" (SDAE, greedy, all images)" if arm == "pretrained" else ""))
    ax.set_xscale("log")
    ax.set_xlabel(f"labelled training images (of {settings['images']:,} seen by pretraining)")
    ax.set_ylabel(f"test accuracy (mean ± std, {n_seeds} seed(s))")
    ax.set_title(f"SDAE {settings['hidden_units']} {settings['activation']}, plain SGD at "
                 f"{settings['learning_rate']:g}, early stopping", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    intervals = [numbers["pretrained_minus_scratch"][str(n)] for n in counts]
    means = np.array([i["mean"] for i in intervals])
    low = np.array([i["low"] if i["low"] is not None else i["mean"] for i in intervals])
    high = np.array([i["high"] if i["high"] is not None else i["mean"] for i in intervals])
    gains.errorbar(counts, means, yerr=[means - low, high - means], fmt="o-", capsize=4)
    gains.axhline(0, color="grey", lw=1)
    gains.set_xscale("log")
    gains.set_xlabel("labelled training images")
    gains.set_ylabel("pretrained minus scratch (95% interval)")
    gains.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save_figure(fig, figure)
