"""A naive small initialization (normal, std 0.01) against Glorot's (Glorot and Bengio
2010) for tanh and He's (He et al. 2015) for ReLU, in plain MLPs of growing depth: the
spread of each layer's activations and gradients at initialization, and whether the
net learns at all in a fixed budget of SGD steps.

    kdl experiment initialization
"""

from __future__ import annotations

import numpy as np

from kdl.experiments import register_experiment
from kdl.plots import pyplot, save_figure
from kdl.experiments._common import fashion_mnist

SCHEMES = {"naive": "naive", "glorot": "glorot_normal", "he": "he_normal"}


def _initializer(scheme: str, seed: int):
    import keras

    if scheme == "naive":
        return keras.initializers.RandomNormal(stddev=0.01, seed=seed)
    return keras.initializers.get({"class_name": SCHEMES[scheme], "config": {"seed": seed}})


def learned(accuracy: float, settings: dict) -> bool:
    return accuracy >= settings["learned_accuracy"]


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    deepest = str(max(settings["depths"]))
    acc = numbers["accuracy"]  # "activation/scheme" -> depth -> mean test accuracy
    naive_fails = all(not learned(acc[f"{a}/naive"][deepest], settings) for a in ("tanh", "relu"))
    good_learns = (learned(acc["tanh/glorot"][deepest], settings)
                   and learned(acc["relu/he"][deepest], settings))
    ratio = numbers["activation_std_ratio"]  # last/first hidden layer, deepest net
    why = (f"at depth {deepest}: naive init reaches {acc['tanh/naive'][deepest]:.2f} (tanh) and "
           f"{acc['relu/naive'][deepest]:.2f} (relu) test accuracy, Glorot-tanh "
           f"{acc['tanh/glorot'][deepest]:.2f}, He-relu {acc['relu/he'][deepest]:.2f} "
           f"(learned = at least {settings['learned_accuracy']:.2f}); activation std last/first "
           f"layer: naive-tanh {ratio['tanh/naive']:.1e}, Glorot-tanh {ratio['tanh/glorot']:.2f}, "
           f"He-relu {ratio['relu/he']:.2f}")
    return naive_fails and good_learns, why + "."


def _per_layer_std(model, x, y):
    """Std of each hidden layer's activations and of the loss gradient w.r.t. each
    hidden layer's kernel, on one batch, before any update."""
    import keras
    import tensorflow as tf

    hidden = [layer for layer in model.layers if layer.name.startswith("hidden")]
    probe = keras.Model(model.inputs, [layer.output for layer in hidden])
    activations = [float(np.std(keras.ops.convert_to_numpy(a))) for a in probe(x)]
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
        loss = tf.reduce_mean(loss)
    grads = tape.gradient(loss, [layer.kernel for layer in hidden])
    return activations, [float(np.std(g.numpy())) for g in grads]


def _mlp(depth: int, width: int, activation: str, scheme: str, seed: int):
    import keras

    layers = [keras.Input((28, 28, 1)), keras.layers.Flatten()]
    for i in range(depth):
        layers.append(keras.layers.Dense(width, activation=activation, name=f"hidden{i + 1}",
                                         kernel_initializer=_initializer(scheme, seed + i)))
    layers.append(keras.layers.Dense(10, activation="softmax", name="predictions",
                                     kernel_initializer=_initializer(scheme, seed + depth)))
    return keras.Sequential(layers)


@register_experiment(
    "initialization",
    claim="With a naive small random initialization, activations and gradients shrink layer "
          "after layer and deep nets stop learning; Glorot's (tanh) and He's (ReLU) scaling "
          "keep them alive.",
    settings={"depths": [1, 3, 6, 10], "width": 128, "train_examples": 10000,
              "test_examples": 2000, "epochs": 3, "batch_size": 64, "learning_rate": 0.05,
              "learned_accuracy": 0.5},
    smoke={"depths": [1, 6], "width": 32, "train_examples": 1024, "test_examples": 256,
           "epochs": 2, "batch_size": 32},
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    import keras

    combos = [(a, s) for a in ("tanh", "relu") for s in SCHEMES]
    acc = {f"{a}/{s}": {d: [] for d in settings["depths"]} for a, s in combos}
    act_std, grad_std = {}, {}
    deepest = max(settings["depths"])
    for seed in seeds:
        data = fashion_mnist(settings["train_examples"], settings["test_examples"], seed=seed)
        for activation, scheme in combos:
            key = f"{activation}/{scheme}"
            for depth in settings["depths"]:
                keras.utils.set_random_seed(seed)
                model = _mlp(depth, settings["width"], activation, scheme, seed * 1000)
                if depth == deepest and seed == seeds[0]:
                    act_std[key], grad_std[key] = _per_layer_std(model, data["x"][:512],
                                                                 data["y"][:512])
                model.compile(keras.optimizers.SGD(settings["learning_rate"]),
                              "sparse_categorical_crossentropy", metrics=["accuracy"])
                model.fit(data["x"], data["y"], batch_size=settings["batch_size"],
                          epochs=settings["epochs"], verbose=0)
                acc[key][depth].append(float(model.evaluate(
                    data["x_test"], data["y_test"], batch_size=1024, verbose=0)[1]))
    mean = {k: {str(d): float(np.mean(v)) for d, v in row.items()} for k, row in acc.items()}
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5), dpi=100)
    styles = {"naive": ":", "glorot": "-", "he": "--"}
    colors = {"tanh": "tab:blue", "relu": "tab:red"}
    for key in act_std:
        activation, scheme = key.split("/")
        style = dict(linestyle=styles[scheme], color=colors[activation], marker="o", markersize=3,
                     label=f"{activation}, {scheme}")
        layers = range(1, len(act_std[key]) + 1)
        axes[0].semilogy(layers, np.maximum(act_std[key], 1e-30), **style)
        axes[1].semilogy(layers, np.maximum(grad_std[key], 1e-30), **style)
        axes[2].plot(settings["depths"], [mean[key][str(d)] for d in settings["depths"]], **style)
    axes[0].set_title(f"activation std per layer at init (depth {deepest})")
    axes[1].set_title(f"std of dLoss/dW per layer at init (depth {deepest})")
    for ax in axes[:2]:
        ax.set_xlabel("hidden layer")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("std (log scale)")
    axes[2].axhline(settings["learned_accuracy"], color="k", linewidth=0.8)
    axes[2].set_xlabel("hidden layers")
    axes[2].set_ylabel("test accuracy")
    axes[2].set_title(f"after {settings['epochs']} epochs of SGD (lr {settings['learning_rate']:g}), "
                      f"{len(seeds)} seed(s)", fontsize=9)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, figure)
    ratio = {k: v[-1] / v[0] if v[0] else 0.0 for k, v in act_std.items()}
    table = [{"activation/init": k, **{f"depth {d}": mean[k][str(d)] for d in settings["depths"]}}
             for k in mean]
    return {"accuracy": mean, "activation_std": act_std, "gradient_std": grad_std,
            "activation_std_ratio": ratio, "table": table}
