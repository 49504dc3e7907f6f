"""Gradient checking: central finite differences against automatic differentiation for
kdl's own layers (WeightNormalization, LocalResponseNormalization) and a small MLP, in
float64; and the relative error against the step size, in float64 and float32, which
shows why the check is done in double precision (the course's gradient-check slide;
CS231n's rule of thumb: below 1e-7 is right).

A check that cannot fail shows nothing, so the same check runs on a control with a planted
bug: the MLP with a tanh whose backward pass is the classic slip ``1 - tanh(x)`` instead of
``1 - tanh(x)**2``. The claim holds only if every real component passes and the planted
bug is caught (its error above the bound) in every seed. Each is a count of seeds, stated
with its Wilson 95% interval; the figure draws every seed's error beside the worst and the
step sweep's spread over seeds (issue 31).

What came out (3 seeds, Intel Xeon 6/167 with AMX, ``kdl experiment gradient_check
--record``, 117 s alone): supported. Largest float64 relative errors 1.9e-10
(WeightNormalization), 6.6e-10 (LocalResponseNormalization), 1.8e-09 (MLP); the planted
gradient's smallest error 0.20, caught on 3 of 3 seeds [44%, 100%].

    kdl experiment gradient_check
"""

from __future__ import annotations

import re

import numpy as np

from kdl.experiments import register_experiment
from kdl.plots import pyplot, save_figure
from kdl.experiments._common import share_text, wilson


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||) over one weight's checked entries (entrywise ratios
    blow up on the entries whose gradient is itself near zero)."""
    a, b = np.asarray(a, "float64").ravel(), np.asarray(b, "float64").ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    errors = numbers["max_relative_error"]
    bound = settings["max_relative_error"]
    ok = all(e < bound for e in errors.values())
    listed = ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
    text = f"largest relative error in float64: {listed} ({'all' if ok else 'NOT all'} below {bound:g})"
    per_seed = numbers.get("per_seed")
    if per_seed:
        seeds = len(next(iter(per_seed.values())))
        passed = sum(all(v[i] < bound for v in per_seed.values()) for i in range(seeds))
        text += f"; seeds on which every component passed: {share_text(wilson(passed, seeds))}"
    planted = numbers.get("planted_relative_error")
    if planted is None:  # a result recorded before the control existed
        return ok, text + "; no planted-bug control."
    caught = planted > bound
    planted_seeds = numbers.get("planted_per_seed")
    counted = (f", caught on {share_text(wilson(sum(e > bound for e in planted_seeds), len(planted_seeds)))}"
               " seeds (Wilson 95%)" if planted_seeds else "")
    return ok and caught, (f"{text}; the planted wrong tanh gradient {'caught' if caught else 'NOT caught'}: "
                           f"its smallest error over the seeds {planted:.1e}{counted}.")


def _planted_tanh():
    """A tanh layer whose gradient is planted wrong: ``1 - tanh(x)``, not ``1 - tanh(x)**2``."""
    import keras
    import tensorflow as tf

    class WrongTanhGradient(keras.layers.Layer):
        def call(self, x):
            @tf.custom_gradient
            def tanh(x):
                y = tf.tanh(x)
                return y, lambda dy: dy * (1 - y)  # the bug

            return tanh(x)

    return WrongTanhGradient


def _components(dtype: str, seed: int):
    """name -> (a model, its input): each model's loss is checked against all its weights
    and its input."""
    import keras

    from kdl.layers import LocalResponseNormalization, WeightNormalization

    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    x_dense = rng.normal(size=(5, 6)).astype(dtype)
    x_image = rng.normal(size=(2, 4, 4, 7)).astype(dtype)
    weight_norm = keras.Sequential([
        keras.Input((6,), dtype=dtype),
        WeightNormalization(keras.layers.Dense(4, activation="tanh", dtype=dtype), dtype=dtype)])
    lrn = keras.Sequential([keras.Input((4, 4, 7), dtype=dtype),
                            keras.layers.Conv2D(7, 3, padding="same", dtype=dtype),
                            LocalResponseNormalization(depth_radius=2, bias=1.0, alpha=0.5,
                                                       beta=0.75, dtype=dtype)])
    mlp = keras.Sequential([keras.Input((6,), dtype=dtype),
                            keras.layers.Dense(8, activation="tanh", dtype=dtype),
                            keras.layers.Dense(8, activation="sigmoid", dtype=dtype),
                            keras.layers.Dense(3, activation="softmax", dtype=dtype)])
    planted = keras.Sequential([keras.Input((6,), dtype=dtype),
                                keras.layers.Dense(8, dtype=dtype), _planted_tanh()(dtype=dtype),
                                keras.layers.Dense(3, activation="softmax", dtype=dtype)])
    return {"WeightNormalization": (weight_norm, x_dense),
            "LocalResponseNormalization": (lrn, x_image), "MLP": (mlp, x_dense),
            PLANTED: (planted, x_dense)}


PLANTED = "MLP with a planted bug"


def _loss_fn(model, projection):
    import tensorflow as tf

    def loss(x):
        return tf.reduce_sum(model(x) * projection)

    return loss


def _check(model, x, epsilon: float, entries: int, rng) -> float:
    """Relative error between tf.GradientTape's gradient and central differences, over
    up to ``entries`` randomly chosen entries of every weight and of the input."""
    import tensorflow as tf

    out = model(x)
    projection = tf.constant(rng.normal(size=out.shape).astype(x.dtype))
    loss = _loss_fn(model, projection)
    x = tf.Variable(x)
    variables = [w.value for w in model.trainable_weights] + [x]
    with tf.GradientTape() as tape:
        value = loss(x)
    analytic = tape.gradient(value, variables)
    worst = 0.0
    for variable, grad in zip(variables, analytic, strict=True):
        flat = variable.numpy().ravel()
        picks = rng.choice(flat.size, size=min(entries, flat.size), replace=False)
        numeric = []
        for i in picks:
            values = []
            for sign in (1, -1):
                changed = flat.copy()
                changed[i] += sign * epsilon
                variable.assign(changed.reshape(variable.shape))
                values.append(float(loss(x)))
            variable.assign(flat.reshape(variable.shape))
            numeric.append((values[0] - values[1]) / (2 * epsilon))
        worst = max(worst, relative_error(grad.numpy().ravel()[picks], numeric))
    return worst


@register_experiment(
    "gradient_check",
    claim="Backpropagation's gradients equal central finite differences to a relative error "
          "below 1e-7 in double precision, for kdl's custom layers as for a plain MLP, and "
          "the same check catches a planted wrong gradient.",
    settings={"epsilon": 1e-6, "entries": 40, "max_relative_error": 1e-7,
              "epsilons": [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]},
    smoke={"entries": 6, "epsilons": [1e-2, 1e-6, 1e-9]},
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    per_seed = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for name, (model, x) in _components("float64", seed).items():
            per_seed.setdefault(name, []).append(
                _check(model, x, settings["epsilon"], settings["entries"], rng))
    planted_per_seed = [float(e) for e in per_seed.pop(PLANTED)]
    planted = min(planted_per_seed)  # caught in every seed, or not
    worst = {name: float(max(v)) for name, v in per_seed.items()}
    sweeps = {}  # dtype -> one curve over the steps per seed
    for dtype in ("float64", "float32"):
        for seed in seeds:
            model, x = _components(dtype, seed)["MLP"]
            sweeps.setdefault(dtype, []).append(  # the same entries at every step
                [_check(model, x, eps, settings["entries"], np.random.default_rng(seed))
                 for eps in settings["epsilons"]])
    sweep = {dtype: np.max(curves, axis=0).tolist() for dtype, curves in sweeps.items()}
    plt = pyplot()
    fig, (bar, ax) = plt.subplots(1, 2, figsize=(13, 4.5), dpi=100)
    names = list(worst)
    # "WeightNormalization" -> "Weight\nNormalization": the long names side by side overlap.
    ticks = [re.sub(r"(?<=[a-z])(?=[A-Z])", "\n", n) for n in names]
    bar.bar(ticks, [max(worst[n], 1e-18) for n in names], color="tab:gray",
            label="worst seed")
    bar.bar(["planted bug\n(control)"], [planted], color="tab:orange",
            label="control: its best seed")
    for i, values in enumerate([*[per_seed[n] for n in names], planted_per_seed]):
        bar.plot(np.full(len(values), i), np.maximum(values, 1e-18), "k.", ms=5,
                 label="each seed" if i == 0 else None)
    bar.axhline(settings["max_relative_error"], color="tab:red", linestyle="--",
                label=f"{settings['max_relative_error']:g}")
    bar.set_yscale("log")
    bar.set_ylabel("largest relative error (log scale)")
    bar.set_title(f"float64, step {settings['epsilon']:g}, {len(seeds)} seed(s)")
    bar.legend()
    for dtype, curves in sweeps.items():
        curves = np.maximum(np.array(curves), 1e-18)
        (line,) = ax.loglog(settings["epsilons"], np.median(curves, axis=0), "o-",
                            label=f"{dtype} (median, band: min to max over seeds)")
        ax.fill_between(settings["epsilons"], curves.min(axis=0), curves.max(axis=0),
                        color=line.get_color(), alpha=0.2)
    ax.set_xlabel("finite-difference step (log scale)")
    ax.set_ylabel("largest relative error, MLP (log scale)")
    ax.set_title("too large a step: truncation error; too small: rounding")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, figure)
    return {"max_relative_error": worst, "planted_relative_error": planted,
            "planted_per_seed": planted_per_seed, "per_seed": per_seed, "epsilon_sweep": sweep,
            "epsilon_sweep_per_seed": sweeps,
            "table": [{"component": n, "max relative error (float64)": worst[n]} for n in names]
            + [{"component": f"{PLANTED} (control: must fail)",
                "max relative error (float64)": planted}]}
