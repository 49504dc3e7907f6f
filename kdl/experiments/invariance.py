"""What convolutions build in: kdl's MLP against kdl's LeNet-5 on Fashion-MNIST with the
pixels scrambled by one fixed permutation (train and test alike), and on test images
shifted by a few pixels (trained on unshifted ones).

An MLP treats its input as an unordered vector: one fixed permutation of the pixels is a
relabelling of its inputs and, up to initialization, costs it nothing. A CNN's local
filters and pooling assume that neighbouring pixels belong together: scrambled, it loses
what its architecture brings. Shifts are the other half: weight sharing and pooling make
LeNet-5's features move with the image, the MLP's weights are tied to positions. (The
course's lecture on convolutions; the permutation test is Zhang et al. 2017's and older.)

Both arms of each comparison share a seed (the training subset, the permutation, the
initialization, the shifts), so each cost is a paired difference with a 95% t interval
over 5 seeds (the margins are small). Judged as settled before the run: the MLP's cost of
the permutation within +-0.02 (its whole interval), LeNet-5's above zero, and under shifts
the MLP losing more than LeNet-5 (the interval of the difference of their losses above
zero).

What came out (5 seeds, AMD EPYC 25/1, ``kdl experiment invariance --record``): supported.
Scrambled pixels cost the MLP -0.005 [-0.015, +0.005] and LeNet-5 +0.031 [+0.010, +0.052];
2-pixel shifts cost the MLP 0.165 [0.152, 0.178] more than LeNet-5. (A first version,
recorded on an Intel Xeon and lost before it was committed, said the same: +0.001, +0.016,
+0.157.)

    kdl experiment invariance
"""

from __future__ import annotations

import numpy as np

from kdl.experiments import register_experiment
from kdl.experiments._common import accuracy, fashion_mnist, interval_text, paired_interval
from kdl.plots import pyplot, save_figure

MODELS = ("mlp", "lenet5")


def permuted(images: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``images`` ([N, H, W, C]) with the pixel positions reordered by ``order`` (a
    permutation of ``H * W``), the same for every image and channel."""
    n, h, w, c = images.shape
    return images.reshape(n, h * w, c)[:, order].reshape(n, h, w, c)


def shifted(images: np.ndarray, pixels: int, *, seed: int) -> np.ndarray:
    """Each image moved by ``pixels`` along one of the 8 directions (drawn per image,
    seeded), the uncovered border filled with zeros (Fashion-MNIST's background)."""
    rng = np.random.default_rng(seed)
    directions = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    for i, k in enumerate(rng.integers(len(directions), size=len(images))):
        dy, dx = (pixels * d for d in directions[k])
        target = out[i, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)]
        target[...] = images[i, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _trained(name: str, x: np.ndarray, y: np.ndarray, settings: dict, seed: int):
    import keras

    from kdl.models import get_model

    keras.utils.set_random_seed(seed)
    model = get_model(name, input_shape=x.shape[1:], classes=10)
    model.compile(keras.optimizers.Adam(settings["learning_rate"]),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=128, epochs=settings["epochs"], verbose=0)
    return model


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    mlp, lenet5 = numbers["permutation_cost"]["mlp"], numbers["permutation_cost"]["lenet5"]
    shift = numbers["shift_cost_mlp_minus_lenet5"]
    margin = settings.get("mlp_margin", 0.02)
    known = all(i["low"] is not None for i in (mlp, lenet5, shift))
    mlp_same = known and -margin <= mlp["low"] and mlp["high"] <= margin
    lenet5_loses = known and lenet5["low"] > 0
    shift_hurts_mlp_more = known and shift["low"] > 0
    return mlp_same and lenet5_loses and shift_hurts_mlp_more, (
        f"test accuracy lost to scrambled pixels: MLP {interval_text(mlp)} "
        f"({'within' if mlp_same else 'NOT within'} ±{margin}), LeNet-5 {interval_text(lenet5)} "
        f"({'above' if lenet5_loses else 'NOT above'} 0); under {settings['shift']}-pixel shifts "
        f"the MLP loses more than LeNet-5 by {interval_text(shift)} "
        f"({'above' if shift_hurts_mlp_more else 'NOT above'} 0).")


@register_experiment(
    "invariance",
    claim="Convolutions build in the images' spatial structure: with the pixels scrambled by "
          "one fixed permutation an MLP learns as well as before while LeNet-5 loses accuracy, "
          "and shifted by a few pixels LeNet-5 loses less than the MLP.",
    settings={"train_examples": 10000, "test_examples": 2000, "epochs": 5, "shift": 2,
              "learning_rate": 1e-3, "mlp_margin": 0.02},
    smoke={"train_examples": 1024, "test_examples": 256, "epochs": 1},
    verdict=verdict,
    seeds=5,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    accs = {m: {"plain": [], "permuted": [], "shifted": []} for m in MODELS}
    for seed in seeds:
        data = fashion_mnist(settings["train_examples"], settings["test_examples"], seed=seed)
        order = np.random.default_rng(seed).permutation(28 * 28)
        x_moved = shifted(data["x_test"], settings["shift"], seed=seed)
        for name in MODELS:
            plain = _trained(name, data["x"], data["y"], settings, seed)
            accs[name]["plain"].append(accuracy(plain, data["x_test"], data["y_test"]))
            accs[name]["shifted"].append(accuracy(plain, x_moved, data["y_test"]))
            scrambled = _trained(name, permuted(data["x"], order), data["y"], settings, seed)
            accs[name]["permuted"].append(
                accuracy(scrambled, permuted(data["x_test"], order), data["y_test"]))
        if seed == seeds[0]:
            shown = (data["x_test"][:4], permuted(data["x_test"][:4], order), x_moved[:4])
    a = {m: {k: np.asarray(v) for k, v in arms.items()} for m, arms in accs.items()}
    numbers = {
        "test_accuracy": {m: {k: {"mean": float(v.mean()), "std": float(v.std())}
                              for k, v in arms.items()} for m, arms in a.items()},
        "permutation_cost": {m: paired_interval(a[m]["plain"] - a[m]["permuted"]) for m in MODELS},
        "shift_cost": {m: paired_interval(a[m]["plain"] - a[m]["shifted"]) for m in MODELS},
        "shift_cost_mlp_minus_lenet5": paired_interval(
            (a["mlp"]["plain"] - a["mlp"]["shifted"])
            - (a["lenet5"]["plain"] - a["lenet5"]["shifted"])),
        "per_seed": {m: {k: v.tolist() for k, v in arms.items()} for m, arms in a.items()}}
    numbers["table"] = [{"model": m, **{f"test accuracy, {k}": numbers["test_accuracy"][m][k]["mean"]
                                        for k in ("plain", "permuted", "shifted")}}
                        for m in MODELS]
    _draw(numbers, shown, settings, len(seeds), figure)
    return numbers


def _draw(numbers: dict, shown, settings: dict, n_seeds: int, figure: str) -> None:
    plt = pyplot()
    fig = plt.figure(figsize=(14, 5), dpi=100)
    grid = fig.add_gridspec(3, 8)
    bars = fig.add_subplot(grid[:, :5])
    arms = ("plain", "permuted", "shifted")
    width = 0.38
    for j, name in enumerate(MODELS):
        means = [numbers["test_accuracy"][name][k]["mean"] for k in arms]
        stds = [numbers["test_accuracy"][name][k]["std"] for k in arms]
        bars.bar(np.arange(3) + (j - 0.5) * width, means, width, yerr=stds, capsize=5,
                 label={"mlp": "MLP", "lenet5": "LeNet-5"}[name])
    bars.set_xticks(range(3), ["as they are", "pixels permuted\n(train and test)",
                               f"test shifted {settings['shift']} px"])
    bars.set_ylabel(f"test accuracy (mean ± std, {n_seeds} seed(s))")
    bars.set_ylim(0, 1)
    bars.legend(loc="lower left")
    bars.grid(axis="y", alpha=0.3)
    for row, (images, label) in enumerate(zip(shown, arms, strict=True)):
        for i, image in enumerate(images[:3]):
            ax = fig.add_subplot(grid[row, 5 + i])
            ax.imshow(image[..., 0], cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.suptitle(f"MLP against LeNet-5, {settings['train_examples']} training images, "
                 f"{settings['epochs']} epochs")
    fig.tight_layout()
    save_figure(fig, figure)
