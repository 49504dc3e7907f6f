"""Transfer learning: kdl's LeNet-5 trained on five Fashion-MNIST classes (T-shirt,
trouser, pullover, dress, coat), its features reused for the other five (sandal, shirt,
sneaker, bag, ankle boot) with a few labels each, frozen (a new classifier on top) or
fine-tuned, against the same network trained from scratch on those few labels (Yosinski
et al. 2014; the course's transfer-learning lecture).

    kdl experiment transfer
"""

from __future__ import annotations

import numpy as np

from kdl.experiments import register_experiment
from kdl.plots import pyplot, save_figure
from kdl.experiments._common import accuracy, fashion_mnist, trained_lenet5

SOURCE, TARGET = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
KINDS = ("scratch", "frozen", "fine-tuned")


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    fewest = str(settings["labels_per_class"][0])
    acc = numbers["accuracy"]  # kind -> labels per class -> mean test accuracy
    frozen, tuned, scratch = (acc[k][fewest] for k in ("frozen", "fine-tuned", "scratch"))
    supported = frozen > scratch and tuned > scratch
    return supported, (
        f"with {fewest} labels per class: scratch {scratch:.3f}, frozen features {frozen:.3f}, "
        f"fine-tuned {tuned:.3f} ({'both transfers beat' if supported else 'NOT both above'} "
        f"scratch).")


def _target_model(kind: str, source, settings: dict, seed: int):
    import keras

    from kdl.models import get_model

    keras.utils.set_random_seed(seed)
    if kind == "scratch":
        model = get_model("lenet5", classes=len(TARGET))
    else:
        # The convolutional features (Yosinski et al.: the lower layers are the general ones),
        # copied so that fine-tuning leaves the source network as it was.
        features = keras.Model(source.inputs, source.get_layer(settings["reused_layer"]).output)
        copy = keras.models.clone_model(features)
        copy.set_weights(features.get_weights())
        copy.trainable = kind == "fine-tuned"
        inputs = keras.Input(source.inputs[0].shape[1:])
        outputs = keras.layers.Dense(len(TARGET), activation="softmax", name="new_predictions")(
            copy(inputs))
        model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(settings["learning_rate"]), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@register_experiment(
    "transfer",
    claim="Features learned on some classes transfer to new classes: with few labels, a "
          "network reusing them (frozen or fine-tuned) beats the same network trained from scratch.",
    settings={"source_examples": 30000, "source_epochs": 5, "labels_per_class": [5, 20, 100],
              "target_updates": 300, "test_examples": 5000, "learning_rate": 1e-3,
              "reused_layer": "flatten"},
    smoke={"source_examples": 2048, "source_epochs": 1, "labels_per_class": [5, 50],
           "target_updates": 30, "test_examples": 500},
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    counts = settings["labels_per_class"]
    acc = {k: {str(n): [] for n in counts} for k in KINDS}
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
            for kind in KINDS:
                model = _target_model(kind, source, settings, seed)
                model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
                acc[kind][str(n)].append(accuracy(model, pool["x_test"], y_test))
    mean = {k: {n: float(np.mean(v)) for n, v in row.items()} for k, row in acc.items()}
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    for kind, style in zip(KINDS, ("o--", "o-", "s-"), strict=True):
        ax.semilogx(counts, [mean[kind][str(n)] for n in counts], style, label=kind)
    ax.set_xlabel("labelled images per new class (log scale)")
    ax.set_ylabel(f"test accuracy on the 5 new classes ({settings['test_examples']} images)")
    ax.set_title(f"LeNet-5 features from classes 0-4 (their test accuracy "
                 f"{np.mean(source_acc):.3f}), reused on 5-9; {len(seeds)} seed(s)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, figure)
    table = [{"labels per class": n, **{k: mean[k][str(n)] for k in KINDS}} for n in counts]
    return {"accuracy": mean, "accuracy_per_seed": acc,
            "source_accuracy": float(np.mean(source_acc)), "table": table}
