"""Transfer learning: kdl's LeNet-5 trained on five Fashion-MNIST classes (T-shirt,
trouser, pullover, dress, coat), its first layers reused for the other five (sandal, shirt,
sneaker, bag, ankle boot) with a few labels each, frozen or fine-tuned, against the same
network trained from scratch on those few labels (Yosinski et al. 2014, "How transferable
are features in deep neural networks?"; the course's transfer-learning lecture).

As in Yosinski et al., a target net is a fresh LeNet-5 whose layers up to a cut are copied
from the source net (by name) and either kept fixed ("frozen") or trained on ("fine-tuned");
the layers above the cut start from a fresh initialization. Cuts after the first block
(``pool1``), after both convolutions (``flatten``) and after the second dense layer (``fc2``,
everything but the classifier) show how many layers to freeze; the claim is judged at the
cut ``reused_layer``.

Why redesigned (issue 31): the first version's margins (frozen +0.008, fine-tuned +0.023
over scratch at 5 labels a class, 3 seeds) were smaller than the spread between seeds and
it compared means without an interval; and it reused one cut only. Now 5 seeds, each
seed's arms sharing the source net, the labelled images and the target initialization, so
the contrasts are paired (95% t intervals). Judged as settled before the run: at the fewest
labels, frozen minus scratch and fine-tuned minus scratch at the ``reused_layer`` cut are
both above zero.

What came out (5 seeds, Intel Xeon 6/167 with AMX, ``kdl experiment transfer --record``,
1,563 s, its last minutes beside a test run): NOT supported. At 5 labels a class scratch
reached 0.797; the convolutions frozen 0.792 (-0.005 [-0.046, +0.035]) and fine-tuned 0.807
(+0.010 [-0.004, +0.024]): the first version's small margins were the spread between seeds,
and with paired intervals over 5 seeds they do not hold. What the cuts show is Yosinski et
al.'s other finding, plainly: the dense layers are specific to the source classes, so
freezing everything up to ``fc2`` cost 0.19 to 0.29 at every label count, while fine-tuning
from there recovered scratch's accuracy. Nothing was tuned after the run.

    kdl experiment transfer
"""

from __future__ import annotations

import numpy as np

from kdl.experiments import register_experiment
from kdl.experiments._common import (accuracy, fashion_mnist, interval_text, paired_interval,
                                     trained_lenet5)
from kdl.plots import pyplot, save_figure

SOURCE, TARGET = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
LAYERS = ("conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "fc2")


def arms(settings: dict) -> list[str]:
    return ["scratch"] + [f"{kind} to {cut}" for cut in settings["cuts"]
                          for kind in ("frozen", "fine-tuned")]


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    fewest, cut = str(settings["labels_per_class"][0]), settings["reused_layer"]
    acc, gain = numbers["accuracy"], numbers["minus_scratch"]
    frozen, tuned = gain[f"frozen to {cut}"][fewest], gain[f"fine-tuned to {cut}"][fewest]
    above = [g["low"] is not None and g["low"] > 0 for g in (frozen, tuned)]
    return all(above), (
        f"with {fewest} labels per class: scratch {acc['scratch'][fewest]['mean']:.3f}; layers "
        f"to {cut} frozen {acc[f'frozen to {cut}'][fewest]['mean']:.3f} "
        f"({interval_text(frozen)} over scratch), fine-tuned "
        f"{acc[f'fine-tuned to {cut}'][fewest]['mean']:.3f} ({interval_text(tuned)}); "
        f"{'both' if all(above) else 'not both'} above zero.")


def _target_model(arm: str, source, settings: dict, seed: int):
    """A fresh LeNet-5 for the new classes, its layers up to the arm's cut copied from
    ``source`` (frozen or trainable), the rest freshly initialized."""
    import keras

    from kdl.models import get_model

    keras.utils.set_random_seed(seed)
    model = get_model("lenet5", classes=len(TARGET))
    if arm != "scratch":
        kind, cut = arm.split(" to ")
        for name in LAYERS[:LAYERS.index(cut) + 1]:
            layer = model.get_layer(name)
            layer.set_weights(source.get_layer(name).get_weights())
            layer.trainable = kind == "fine-tuned"
    model.compile(keras.optimizers.Adam(settings["learning_rate"]),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@register_experiment(
    "transfer",
    claim="Features learned on some classes transfer to new classes: with few labels, a "
          "network reusing them (frozen or fine-tuned) beats the same network trained from scratch.",
    settings={"source_examples": 30000, "source_epochs": 5, "labels_per_class": [5, 20, 100],
              "target_updates": 300, "test_examples": 5000, "learning_rate": 1e-3,
              "reused_layer": "flatten", "cuts": ["pool1", "flatten", "fc2"]},
    smoke={"source_examples": 2048, "source_epochs": 1, "labels_per_class": [5, 50],
           "target_updates": 30, "test_examples": 500, "cuts": ["flatten"]},
    seeds=5,
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    counts = settings["labels_per_class"]
    if settings["reused_layer"] not in settings["cuts"] or not set(settings["cuts"]) <= set(LAYERS):
        raise ValueError(f"transfer cuts after one of {', '.join(LAYERS)}, and judges at one of "
                         f"its cuts. Received: cuts={settings['cuts']!r}, "
                         f"reused_layer={settings['reused_layer']!r}")
    acc = {a: {str(n): [] for n in counts} for a in arms(settings)}
    source_acc = []
    for seed in seeds:
        source_data = fashion_mnist(settings["source_examples"], settings["test_examples"],
                                    seed=seed, classes=SOURCE)
        source = trained_lenet5(source_data, epochs=settings["source_epochs"], seed=seed)
        source_acc.append(accuracy(source, source_data["x_test"], source_data["y_test"]))
        pool = fashion_mnist(max(counts) * len(TARGET) * 3, settings["test_examples"],
                             seed=seed + 1, classes=TARGET)
        y_pool, y_test = pool["y"] - TARGET[0], pool["y_test"] - TARGET[0]
        for n in counts:
            pick = np.concatenate([np.flatnonzero(y_pool == c)[:n] for c in range(len(TARGET))])
            x, y = pool["x"][pick], y_pool[pick]
            batch = min(32, len(x))
            epochs = max(1, -(-settings["target_updates"] * batch // len(x)))
            for arm in acc:
                model = _target_model(arm, source, settings, seed)
                model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
                acc[arm][str(n)].append(accuracy(model, pool["x_test"], y_test))
    a = {arm: {n: np.array(v) for n, v in t.items()} for arm, t in acc.items()}
    numbers = {
        "accuracy": {arm: {n: {"mean": float(v.mean()), "std": float(v.std())}
                           for n, v in t.items()} for arm, t in a.items()},
        "minus_scratch": {arm: {n: paired_interval(v - a["scratch"][n]) for n, v in t.items()}
                          for arm, t in a.items() if arm != "scratch"},
        "source_accuracy": float(np.mean(source_acc)), "accuracy_per_seed": acc}
    numbers["table"] = [{"labels per class": n, **{arm: numbers["accuracy"][arm][str(n)]["mean"]
                                                   for arm in acc}} for n in counts]
    _draw(numbers, counts, settings, len(seeds), figure)
    return numbers


def _draw(numbers: dict, counts: list, settings: dict, n_seeds: int, figure: str) -> None:
    plt = pyplot()
    fig, (ax, gains) = plt.subplots(1, 2, figsize=(15, 4.8), dpi=100)
    for arm, table in numbers["accuracy"].items():
        means = [table[str(n)]["mean"] for n in counts]
        stds = [table[str(n)]["std"] for n in counts]
        style = "s--" if arm == "scratch" else ("o-" if arm.startswith("fine") else "^:")
        ax.errorbar(counts, means, yerr=stds, fmt=style, capsize=3, label=arm)
    ax.set_xscale("log")
    ax.set_xlabel("labelled images per new class (log scale)")
    ax.set_ylabel(f"test accuracy on the 5 new classes\n(mean ± std, {n_seeds} seed(s))")
    ax.set_title(f"LeNet-5 layers from classes 0-4 (their test accuracy "
                 f"{numbers['source_accuracy']:.3f}), reused on 5-9", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fewest = str(counts[0])
    names = list(numbers["minus_scratch"])
    intervals = [numbers["minus_scratch"][arm][fewest] for arm in names]
    means = np.array([i["mean"] for i in intervals])
    low = np.array([i["low"] if i["low"] is not None else i["mean"] for i in intervals])
    high = np.array([i["high"] if i["high"] is not None else i["mean"] for i in intervals])
    gains.errorbar(means, range(len(names)), xerr=[means - low, high - means], fmt="o",
                   capsize=4)
    gains.axvline(0, color="grey", lw=1)
    gains.set_yticks(range(len(names)), names)
    gains.set_xlabel(f"minus scratch at {fewest} labels per class (95% interval)")
    gains.set_title("which cut, frozen or fine-tuned", fontsize=10)
    gains.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, figure)
