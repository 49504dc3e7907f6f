"""Overfitting and its cures on a small training set: kdl's MLP trained on a few hundred
Fashion-MNIST images with no regularization, an L2 penalty, dropout, early stopping,
and data augmentation (kdl's flips and crops), each with its train and validation
curves (the course's regularization lecture; Srivastava et al. 2014 for dropout).

    kdl experiment regularization
"""

from __future__ import annotations

import numpy as np

from kdl.experiments import register_experiment
from kdl.plots import pyplot, save_figure
from kdl.experiments._common import fashion_mnist

VARIANTS = ("none", "l2", "dropout", "early_stopping", "augmentation")


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    val_loss, test = numbers["final_val_loss"], numbers["test_accuracy"]
    regularized = [v for v in VARIANTS if v != "none"]
    lower = [v for v in regularized if val_loss[v] < val_loss["none"]]
    overfits = numbers["val_loss_rise"] > 0
    listed = ", ".join(f"{v} {val_loss[v]:.3f}" for v in regularized)
    return overfits and len(lower) == len(regularized), (
        f"without regularization the validation loss {'rose' if overfits else 'did NOT rise'} "
        f"by {numbers['val_loss_rise']:.3f} from its minimum to a final {val_loss['none']:.3f}; "
        f"final validation loss with {listed} ({len(lower)}/{len(regularized)} lower); test "
        f"accuracy {test['none']:.3f} without, {max(test[v] for v in regularized):.3f} at best with.")


def _model(variant: str, settings: dict, seed: int):
    import keras

    from kdl.data.augment import build_augmentation
    from kdl.models import get_model
    from kdl.recipes import Recipe
    from kdl.engine.regularize import apply_regularizers

    keras.utils.set_random_seed(seed)
    model = get_model("mlp", hidden_units=tuple(settings["hidden_units"]),
                      dropout=settings["dropout"] if variant == "dropout" else 0.0)
    if variant == "l2":
        apply_regularizers(model, Recipe(name="l2", model="mlp", l2=settings["l2"]))
    if variant == "augmentation":
        augment = build_augmentation(settings["augmentation"], (28, 28, 1), seed=seed)
        inputs = keras.Input((28, 28, 1))
        model = keras.Model(inputs, model(augment(inputs)))
    return model


@register_experiment(
    "regularization",
    claim="On a small training set a network overfits (its validation loss climbs while its "
          "training loss falls); L2, dropout, early stopping and data augmentation each end "
          "with a lower validation loss.",
    settings={"train_examples": 500, "validation_examples": 5000, "test_examples": 5000,
              "epochs": 100, "batch_size": 50, "hidden_units": [512, 512], "l2": 1e-3,
              "dropout": 0.5, "patience": 10,
              "augmentation": {"flip": "horizontal", "translation": 0.1}},
    smoke={"train_examples": 128, "validation_examples": 256, "test_examples": 256,
           "epochs": 6, "hidden_units": [64], "patience": 2},
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    import keras

    curves = {v: {"xent": [], "val_xent": []} for v in VARIANTS}
    test = {v: [] for v in VARIANTS}
    gap = {v: [] for v in VARIANTS}
    val_loss = {v: [] for v in VARIANTS}
    stopped = []
    for seed in seeds:
        data = fashion_mnist(settings["train_examples"], settings["test_examples"], seed=seed,
                             validation=settings["validation_examples"])
        for variant in VARIANTS:
            model = _model(variant, settings, seed)
            # The cross-entropy alone as a metric: Keras' loss includes the L2 penalty.
            model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                          metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(
                              name="xent")])
            callbacks = []
            if variant == "early_stopping":
                callbacks.append(keras.callbacks.EarlyStopping(
                    "val_accuracy", patience=settings["patience"], restore_best_weights=True))
            history = model.fit(data["x"], data["y"], batch_size=settings["batch_size"],
                                epochs=settings["epochs"], verbose=0, callbacks=callbacks,
                                validation_data=(data["x_val"], data["y_val"]))
            for key in curves[variant]:
                curves[variant][key].append([float(v) for v in history.history[key]])
            train_acc = model.evaluate(data["x"], data["y"], batch_size=1024, verbose=0)[1]
            _, val_acc, val_loss_now = model.evaluate(data["x_val"], data["y_val"],
                                                      batch_size=1024, verbose=0)
            val_loss[variant].append(float(val_loss_now))
            gap[variant].append(float(train_acc - val_acc))
            test[variant].append(float(model.evaluate(data["x_test"], data["y_test"],
                                                      batch_size=1024, verbose=0)[1]))
            if variant == "early_stopping":
                stopped.append(len(history.history["loss"]))
    plt = pyplot()
    fig, axes = plt.subplots(1, len(VARIANTS), figsize=(19, 4), dpi=100, sharey=True)
    for ax, variant in zip(axes, VARIANTS, strict=True):
        for key, style in (("xent", "-"), ("val_xent", "--")):
            runs = curves[variant][key]
            length = max(len(r) for r in runs)
            padded = np.array([r + [np.nan] * (length - len(r)) for r in runs])
            ax.plot(range(1, length + 1), np.nanmean(padded, axis=0), style,
                    label="training" if key == "xent" else "validation")
        ax.set_title(f"{variant}: final val loss {np.mean(val_loss[variant]):.3f}, "
                     f"test acc {np.mean(test[variant]):.3f}", fontsize=9)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"cross-entropy, log scale ({settings['train_examples']} training images, "
                       f"{len(seeds)} seed(s))")
    axes[0].legend()
    fig.tight_layout()
    save_figure(fig, figure)
    final_gap = {v: float(np.mean(g)) for v, g in gap.items()}
    test_acc = {v: float(np.mean(t)) for v, t in test.items()}
    final_val = {v: float(np.mean(x)) for v, x in val_loss.items()}
    plain = np.mean([np.array(c[:min(map(len, curves["none"]["val_xent"]))])
                     for c in curves["none"]["val_xent"]], axis=0)
    return {"final_val_loss": final_val, "val_loss_rise": float(plain[-1] - plain.min()),
            "final_gap": final_gap, "test_accuracy": test_acc, "gap_per_seed": gap,
            "early_stopping_epochs": stopped,
            "table": [{"regularization": v, "final val loss": final_val[v],
                       "train-val accuracy gap": final_gap[v], "test accuracy": test_acc[v]}
                      for v in VARIANTS]}
