"""What several experiments share: Fashion-MNIST subsets as arrays, kdl's optimizers by
name, a small trained LeNet-5, and seed-averaged curves."""

from __future__ import annotations

import math

import numpy as np


def fashion_mnist(train: int, test: int, *, seed: int = 0, validation: int = 0,
                  classes=None) -> dict:
    """Fashion-MNIST as float32 images in [0, 1] (``[N, 28, 28, 1]``) and int labels:
    ``train`` training examples drawn at random (``seed``), ``validation`` more from the
    rest of train, and the first ``test`` test images. ``classes`` keeps only those
    labels (e.g. ``range(5)``). Raises :class:`kdl.data.DataNotFoundError` offline."""
    from kdl.data.sources import load_image_dataset

    arrays = load_image_dataset("fashion_mnist", validation_fraction=0.0).arrays
    (x, y), (xt, yt) = arrays["train"], arrays["test"]
    if classes is not None:
        keep, keep_t = np.isin(y, list(classes)), np.isin(yt, list(classes))
        x, y, xt, yt = x[keep], y[keep], xt[keep_t], yt[keep_t]
    if train + validation > len(x):
        raise ValueError(f"Fashion-MNIST has {len(x)} training images of these classes. "
                         f"Received: train={train}, validation={validation}")
    order = np.random.default_rng(seed).permutation(len(x))
    pick, rest = order[:train], order[train:train + validation]

    def scale(images):
        return images.astype("float32") / 255.0

    return {"x": scale(x[pick]), "y": y[pick], "x_val": scale(x[rest]), "y_val": y[rest],
            "x_test": scale(xt[:test]), "y_test": yt[:test]}


def optimizer(name: str, learning_rate: float, momentum: float = 0.9):
    """One of kdl's recipe optimizers (``kdl.optimizers.OPTIMIZERS``) at a constant rate."""
    from kdl.recipes import Recipe
    from kdl.optimizers import OPTIMIZERS

    recipe = Recipe(name="experiment", model="mlp", optimizer=name, momentum=momentum,
                    learning_rate=learning_rate)
    return OPTIMIZERS[name](learning_rate, recipe)


def trained_lenet5(data: dict, *, epochs: int, seed: int, learning_rate: float = 1e-3):
    """kdl's LeNet-5 (ReLU, max pooling) trained with Adam on ``data['x'], data['y']``."""
    import keras

    from kdl.models import get_model

    keras.utils.set_random_seed(seed)
    model = get_model("lenet5", input_shape=data["x"].shape[1:],
                      classes=int(max(data["y"].max(), data["y_test"].max())) + 1)
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(data["x"], data["y"], batch_size=128, epochs=epochs, verbose=0)
    return model


def accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    predicted = np.argmax(model.predict(x, batch_size=batch_size, verbose=0), axis=-1)
    return float(np.mean(predicted == y))


def mean_curve(curves: list[list[float]]) -> list[float]:
    """The mean of per-seed curves, over the length they share."""
    length = min(len(c) for c in curves)
    return np.mean([c[:length] for c in curves], axis=0).tolist()


# Student's t, two-sided 95%: t(0.975, df) for df = 1..30 (any statistics table); 1.96
# beyond. A table, so that a verdict's interval needs no scipy.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def paired_interval(differences) -> dict:
    """The mean of per-seed paired ``differences`` with its 95% t interval (``low``,
    ``high``; None for one seed): what a verdict compares, not a lucky seed."""
    d = np.asarray(differences, dtype="float64")
    mean = float(d.mean())
    if len(d) < 2:
        return {"mean": mean, "low": None, "high": None, "seeds": len(d), "confidence": 0.95}
    t = _T975[len(d) - 2] if len(d) - 1 <= len(_T975) else 1.96
    half = float(t * d.std(ddof=1) / np.sqrt(len(d)))
    return {"mean": mean, "low": mean - half, "high": mean + half, "seeds": len(d),
            "confidence": 0.95}


def interval_text(i: dict, digits: int = 3) -> str:
    """``+0.120 [+0.080, +0.160] (95%, 3 seeds)``; one seed: no interval."""
    if i["low"] is None:
        return f"{i['mean']:+.{digits}f} (1 seed: no interval)"
    return (f"{i['mean']:+.{digits}f} [{i['low']:+.{digits}f}, {i['high']:+.{digits}f}] "
            f"(95%, {i['seeds']} seeds)")


def wilson(successes: int, n: int) -> dict:
    """A share with its Wilson score 95% interval."""
    z = 1.96
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"share": p, "low": centre - half, "high": centre + half, "n": n}


def share_text(w: dict) -> str:
    """``5/5 [57%, 100%]``: a count of seeds with its Wilson 95% interval."""
    return f"{round(w['share'] * w['n'])}/{w['n']} [{w['low']:.0%}, {w['high']:.0%}]"
