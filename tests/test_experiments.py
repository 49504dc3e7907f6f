"""Experiments: every registered one runs its smoke form and writes a PNG and a JSON with
a computed verdict; each verdict is checked both ways on made-up numbers."""

import json

import numpy as np
import pytest

from kdl.experiments import get_experiment, list_experiments, run_experiment
from tests.test_cli import kdl, png_size


def test_the_course_claims_are_registered():
    assert {"perceptron_xor", "universal_approximation", "optimizers", "initialization",
            "batch_norm", "regularization", "pretraining", "search", "gradient_check",
            "sanity_checks", "hidden_units", "cnn_filters", "adversarial",
            "transfer", "memorization", "invariance", "deep_signal", "capacity",
            "depth_degradation", "batch_size", "data_scaling"} <= set(list_experiments())
    with pytest.raises(ValueError, match="Did you mean: perceptron_xor"):
        get_experiment("perceptron_xo")


@pytest.fixture(scope="module")
def kernel():
    """One Jupyter kernel for this module's notebooks (per test process): TensorFlow loads
    once, not once per notebook. (`kdl experiment --notebook` starts a fresh one.)"""
    import subprocess

    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(stderr=subprocess.DEVNULL)
    yield km
    km.shutdown_kernel(now=True)


@pytest.mark.parametrize("name", list_experiments())
def test_each_notebook_runs_its_smoke_form_to_a_figure_and_the_verdict(name, tmp_path, kernel):
    """Every experiment's notebook (kdl experiment NAME --notebook) executed at smoke size:
    so none can rot, and so every smoke form runs. Its figure is drawn and shown, and the
    verdict it prints is the experiment's function of the numbers it measured (a cell
    appended here hands them back)."""
    import nbformat

    from kdl.experiments._notebook import build_notebook, execute_notebook

    notebook = build_notebook(name)
    assert get_experiment(name).claim in notebook.cells[0].source
    notebook.cells.insert(0, nbformat.v4.new_code_cell(f"import os\nos.chdir({str(tmp_path)!r})"))
    notebook.cells.append(nbformat.v4.new_code_cell(
        "print(json.dumps({'numbers': numbers, 'settings': settings}, default=float))"))
    executed = execute_notebook(notebook, str(tmp_path), km=kernel)
    width, height = png_size(tmp_path / f"{name}.png")
    assert width >= 800 and height >= 300
    shown = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in shown)
    printed = [o["text"] for o in shown if o.get("output_type") == "stream"
               and o["text"].startswith(("SUPPORTED", "NOT supported"))]
    handed = json.loads(executed.cells[-1].outputs[-1]["text"])
    supported, why = get_experiment(name).verdict(handed["numbers"], handed["settings"])
    assert printed == [f"{'SUPPORTED' if supported else 'NOT supported'} by this run "
                       f"(1 seed(s)): {why}\n"]


def test_run_experiment_writes_a_figure_and_its_numbers(tmp_path):
    name = "gradient_check"  # the quickest
    record = run_experiment(name, smoke=True, out=str(tmp_path))
    assert png_size(tmp_path / f"{name}.png")[0] >= 800
    saved = json.loads((tmp_path / f"{name}.json").read_text())
    assert saved["claim"] == get_experiment(name).claim and saved["smoke"] is True
    assert saved["seeds"] == [0]  # a smoke run's one seed
    # The verdict is the experiment's function of the numbers, not a stored string.
    assert (saved["supported"], saved["verdict"]) == get_experiment(name).verdict(
        saved["numbers"], saved["settings"])
    assert record["supported"] is saved["supported"]


def test_perceptron_xor_verdict_both_ways():
    verdict = get_experiment("perceptron_xor").verdict
    good = {"perceptron_final_errors": {"AND": [0.0, 0.0], "OR": [0.0, 0.0], "XOR": [0.5, 0.75]},
            "perceptron_xor_curves": [[1.0, 0.5, 0.5], [0.75, 0.25, 0.5]],
            "mlp_xor_accuracy": [1.0, 1.0]}
    assert verdict(good, {})[0] is True
    assert "2/2 [34%, 100%]" in verdict(good, {})[1]  # Wilson: two seeds say little
    assert verdict({**good, "mlp_xor_accuracy": [1.0, 0.75]}, {})[0] is False
    assert verdict({**good, "perceptron_xor_curves": [[1.0, 0.0]]}, {})[0] is False
    bad_and = {**good, "perceptron_final_errors": {**good["perceptron_final_errors"],
                                                   "AND": [0.25, 0.0]}}
    assert verdict(bad_and, {})[0] is False


def test_universal_approximation_verdict_both_ways():
    import math

    from kdl.experiments._common import paired_interval

    def built(narrow, wide):
        return {"2": {"max_error": narrow, "mse": narrow ** 2},
                "128": {"max_error": wide, "mse": wide ** 2}}

    trained = {"2": {"mean": 0.1}, "128": {"mean": 1e-4}}
    good = {"construction": built(0.8, 0.001), "trained_mse": trained,
            "trained_log10_mse_ratio": paired_interval([-3.0, -2.8, -3.2, -2.9, -3.1])}
    assert _verdict("universal_approximation", good) is True
    assert _verdict("universal_approximation",
                    {**good, "construction": built(0.8, 0.05)}) is False  # not close enough
    assert _verdict("universal_approximation",
                    {**good, "construction": built(0.05, 0.001)}) is False  # did not fall
    assert _verdict("universal_approximation", {**good, "trained_log10_mse_ratio":
                    paired_interval([-1.0, -1.5, -0.5, -1.2, -1.1])}) is False
    assert math.log10(1 / 20) < -1.0


def test_the_hand_built_sum_of_relus_is_the_interpolant():
    from kdl.experiments.universal_approximation import sum_of_relus, target

    knots = np.linspace(-2, 2, 9, dtype="float32")[:, None]
    model = sum_of_relus(8)
    np.testing.assert_allclose(model.predict(knots, verbose=0), target(knots), atol=1e-5)
    middle = (knots[:-1] + knots[1:]) / 2
    np.testing.assert_allclose(model.predict(middle, verbose=0),
                               (target(knots[:-1]) + target(knots[1:])) / 2, atol=1e-5)


def test_the_command_prints_claim_table_and_verdict(tmp_path, capsys):
    from kdl import cli

    # gradient_check: the quickest smoke run (seconds), through the real command line.
    out = kdl("experiment", "gradient_check", "--smoke", "--out", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("claim: Backpropagation") and "verdict: " in out.stdout
    assert cli.main(["experiment", "list"]) == 0
    assert "universal_approximation" in capsys.readouterr().out
    assert cli.main(["experiment", "perceptrn"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def _verdict(name, numbers, **settings):
    experiment = get_experiment(name)
    return experiment.verdict(numbers, {**experiment.settings, **settings})[0]


def test_optimizers_verdict_both_ways():
    from kdl.experiments._common import paired_interval

    losses = {"sgd": 0.6, "momentum": 0.3, "nesterov": 0.3, "adagrad": 0.4, "rmsprop": 0.3,
              "adam": 0.2, "nadam": 0.2}
    final = {n: {"mean": v} for n, v in losses.items()}
    rates = dict.fromkeys(losses, 0.01)
    down = paired_interval([-0.3, -0.28, -0.32])
    good = {"final_train_loss": final, "chosen_learning_rate": rates,
            "minus_sgd": {"momentum": down, "adam": down}}
    assert _verdict("optimizers", good) is True
    flat = paired_interval([-0.05, 0.02, 0.01])
    assert _verdict("optimizers", {**good, "minus_sgd": {"momentum": down, "adam": flat}}) is False
    assert _verdict("optimizers", {**good, "minus_sgd": {"momentum": flat, "adam": down}}) is False


def test_the_optimizers_grid_grows_past_the_end_that_holds_its_best_rate():
    from kdl.experiments.optimizers import next_rate, select_rate

    assert [next_rate(r, up=True) for r in (0.01, 0.03, 0.3, 3e-3)] == [0.03, 0.1, 1.0, 0.01]
    assert [next_rate(r, up=False) for r in (0.01, 0.03, 1e-4)] == [3e-3, 0.01, 3e-5]
    tried = []

    def bowl(best):  # a loss whose minimum is at `best`; above 3 it diverges
        def loss(rate):
            tried.append(rate)
            return float("nan") if rate > 3 else abs(np.log10(rate / best))
        return loss

    # The best of the grid at its top: grown up the ladder until the minimum is inside.
    assert select_rate([0.01, 0.03, 0.1, 0.3], bowl(1.0), 3)[0] == 1.0
    assert tried[4:] == [1.0, 3.0]
    # Divergence stops the growth: 3 wins over the NaN at 10.
    chosen, losses, added = select_rate([0.1, 0.3], bowl(100.0), 3)
    assert (chosen, added) == (3.0, [1.0, 3.0, 10.0]) and np.isnan(losses[10.0])
    # Grown down; and capped at `extensions` rates on a side.
    assert select_rate([0.01, 0.03], bowl(1e-3), 3)[0] == 1e-3
    chosen, _, added = select_rate([0.01, 0.03], bowl(1e-6), 2)
    assert (chosen, added) == (1e-3, [1e-3, 3e-3])
    # An interior best adds nothing.
    tried.clear()
    chosen, losses, added = select_rate([0.01, 0.03, 0.1], bowl(0.03), 3)
    assert (chosen, sorted(losses), added, tried) == (0.03, [0.01, 0.03, 0.1], [], [0.01, 0.03, 0.1])

def test_initialization_verdict_both_ways():
    from kdl.experiments._common import paired_interval
    from kdl.experiments.initialization import SCHEMES

    def numbers(zeros=0.1, constant=0.1):
        values = {"he": 0.8, "glorot": 0.6, "naive": 0.1, "zeros": zeros, "constant": constant}
        return {"test_accuracy": {s: {str(d): {"mean": values[s]} for d in (10, 20, 30)}
                                  for s in SCHEMES},
                "he_minus_glorot": paired_interval([0.2, 0.18, 0.22, 0.21, 0.19]),
                "he_minus_naive": paired_interval([0.7, 0.7, 0.69, 0.71, 0.7])}

    assert _verdict("initialization", numbers()) is True
    assert _verdict("initialization", numbers(constant=0.3)) is False  # a constant learned
    assert _verdict("initialization", numbers(zeros=0.2)) is False
    assert _verdict("initialization", {**numbers(), "he_minus_glorot":
                                       paired_interval([0.01, -0.02, 0.0, 0.01, 0.0])}) is False
    assert _verdict("initialization", {**numbers(), "he_minus_naive":
                                       paired_interval([0.01, -0.02, 0.0, 0.01, 0.0])}) is False


def test_symmetric_starts_leave_every_unit_of_a_layer_the_same():
    from kdl.experiments.initialization import relu_mlp

    for scheme in ("zeros", "constant"):
        kernel = relu_mlp(3, 8, scheme, seed=0).get_layer("hidden2").get_weights()[0]
        assert np.all(kernel == kernel[0, 0]), scheme
    kernel = relu_mlp(3, 8, "he", seed=0).get_layer("hidden2").get_weights()[0]
    assert kernel.std() == pytest.approx(np.sqrt(2 / 8), rel=0.3)


def test_batch_norm_verdict_both_ways():
    """Per seed, the highest rate that trains; batch norm's higher by an interval above zero.
    One seed where it is not, among seeds that agree otherwise, widens the interval to zero."""
    rates = [0.1, 1.0, 10.0]
    bn_trains, both_train = [0.8, 0.8, 0.75], [0.8, 0.8, 0.1]
    plain_stalls, never = [0.8, 0.1, 0.0], [0.1, 0.1, 0.0]
    yes = {"accuracy_per_seed": {"plain": [plain_stalls, plain_stalls, never],
                                 "batch_norm": [bn_trains] * 3}}
    assert _verdict("batch_norm", yes, learning_rates=rates) is True
    no = {"accuracy_per_seed": {"plain": [plain_stalls, plain_stalls, both_train],
                                "batch_norm": [bn_trains, bn_trains, both_train]}}
    assert _verdict("batch_norm", no, learning_rates=rates) is False
    from kdl.experiments.batch_norm import log_highest

    assert log_highest(rates, never, 0.7) == -2.0  # one step below the grid
    assert log_highest(rates, bn_trains, 0.7) == 1.0


def test_regularization_verdict_both_ways():
    """Judged on test accuracy and the train-test gap, at every size, for every
    regularizer: one interval reaching zero makes it NOT supported."""
    from kdl.experiments._common import paired_interval
    from kdl.experiments.regularization import REGULARIZERS, VARIANTS

    up, flat = paired_interval([0.03, 0.02, 0.04]), paired_interval([0.01, -0.01, 0.0])
    sizes = ("500", "5000")
    good = {"test_gain": {n: dict.fromkeys(REGULARIZERS, up) for n in sizes},
            "gap_narrowing": {n: dict.fromkeys(REGULARIZERS, up) for n in sizes},
            "test_accuracy": {n: dict.fromkeys(VARIANTS, 0.8) for n in sizes},
            "chosen": {n: dict.fromkeys(REGULARIZERS, 0.1) for n in sizes}}
    assert _verdict("regularization", good) is True
    for key in ("test_gain", "gap_narrowing"):
        for r in REGULARIZERS:
            worse = {**good, key: {**good[key], "5000": {**good[key]["5000"], r: flat}}}
            assert _verdict("regularization", worse) is False, (key, r)
    one_seed = paired_interval([0.05])
    assert _verdict("regularization", {**good, "test_gain": {
        n: dict.fromkeys(REGULARIZERS, one_seed) for n in sizes}}) is False


def test_pretraining_verdict_both_ways():
    from kdl.experiments._common import paired_interval
    from kdl.experiments.pretraining import epochs_for

    acc = {arm: {n: {"mean": 0.7} for n in ("100", "1000", "10000")}
           for arm in ("scratch", "pretrained")}
    up, flat = paired_interval([0.05, 0.06, 0.04]), paired_interval([0.01, -0.02, 0.0])

    def numbers(fewest, most, shrink):
        return {"test_accuracy": acc, "gain_fewest_minus_most": shrink,
                "pretrained_minus_scratch": {"100": fewest, "1000": up, "10000": most}}

    assert _verdict("pretraining", numbers(up, flat, up)) is True
    assert _verdict("pretraining", numbers(flat, flat, up)) is False
    assert _verdict("pretraining", numbers(up, up, flat)) is False
    settings = get_experiment("pretraining").settings
    assert epochs_for(100, settings) == 300 and epochs_for(10000, settings) == 10

def test_search_verdict_both_ways():
    from kdl.experiments._common import paired_interval
    from kdl.experiments._common import wilson

    numbers = {"best": {"grid": {"mean": 0.90}, "random": {"mean": 0.95}},
               "random_minus_grid": paired_interval([0.05, 0.04, 0.06, 0.05]),
               "random_at_least_grid": wilson(4, 4),
               "variance_explained": {"learning_rate": 0.8, "units": 0.05}}
    assert _verdict("search", numbers) is True
    assert _verdict("search", {**numbers, "random_minus_grid":
                               paired_interval([0.05, -0.04, 0.0, -0.01])}) is False


def test_search_shifts_the_rate_range_and_grids_at_the_halves_centres():
    from kdl.experiments._common import wilson
    from kdl.experiments.search import grid_values, ranges

    lows = {ranges(seed)["learning_rate"][0] for seed in range(5)}
    assert len(lows) == 5 and all(1e-4 <= low <= 1e-2 for low in lows)
    low, high, _ = ranges(0)["learning_rate"]
    assert high == pytest.approx(low * 1000)
    assert grid_values(1e-4, 1.0, True) == pytest.approx([1e-3, 1e-1])
    assert grid_values(0.0, 0.5, False) == pytest.approx([0.125, 0.375])
    w = wilson(7, 10)  # the textbook case: 0.70, [0.397, 0.892]
    assert (w["share"], round(w["low"], 3), round(w["high"], 3)) == (0.7, 0.397, 0.892)

def test_paired_interval_is_students_t():
    from kdl.experiments._common import paired_interval

    i = paired_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.303
    assert i["mean"] == 2.0 and i["low"] == pytest.approx(2 - 4.303 / 3 ** 0.5)
    assert paired_interval([0.5])["low"] is None


def test_gradient_check_verdict_and_error_both_ways():
    from kdl.experiments.gradient_check import relative_error

    good = {"max_relative_error": {"WeightNormalization": 1e-10, "MLP": 1e-9},
            "planted_relative_error": 0.2}
    assert _verdict("gradient_check", good) is True
    assert _verdict("gradient_check", {**good, "max_relative_error": {"MLP": 1e-3}}) is False
    # A check that misses the planted bug proves nothing: not supported.
    assert _verdict("gradient_check", {**good, "planted_relative_error": 1e-9}) is False
    seeds = {**good, "per_seed": {"MLP": [1e-9, 1e-10, 1e-9]}, "planted_per_seed": [0.2, 0.3, 0.1]}
    verdict = get_experiment("gradient_check").verdict(seeds, get_experiment("gradient_check").settings)
    assert verdict[0] is True and "3/3 [44%, 100%]" in verdict[1]
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([1.0, 0.0], [0.0, 1.0]) == pytest.approx(0.5 ** 0.5)


def test_sanity_checks_verdict_both_ways():
    """Every seed must pass (each count with its Wilson interval), and the broken control
    must be flagged on every seed."""
    from kdl.experiments._common import paired_interval, wilson

    def run(ok_seeds=3, reached_seeds=3):
        return {"initial_loss": 2.3, "initial_minus_log_classes": paired_interval([0.0, 0.01, -0.01]),
                "initial_loss_ok_seeds": wilson(ok_seeds, 3),
                "reached_seeds": wilson(reached_seeds, 3), "steps": 50}

    control = {"initial_loss": 900.0, "flagged_seeds": wilson(3, 3)}
    assert _verdict("sanity_checks", {"runs": {"mlp": run()}, "control": control}) is True
    assert _verdict("sanity_checks", {"runs": {"mlp": run(reached_seeds=2)},
                                      "control": control}) is False
    assert _verdict("sanity_checks", {"runs": {"mlp": run(ok_seeds=2)}, "control": control}) is False
    assert _verdict("sanity_checks", {"runs": {"mlp": run()},
                                      "control": {**control, "flagged_seeds": wilson(2, 3)}}) is False


def test_hidden_units_verdict_both_ways():
    final = {"relu": 0.05, "relu, large lr": 0.6, "tanh": 0.02, "tanh, large init": 0.8,
             "sigmoid": 0.01, "sigmoid, large init": 0.6}
    from kdl.experiments._common import paired_interval

    up = paired_interval([0.2, 0.25, 0.22, 0.21, 0.24])
    contrasts = {"leaky_remedy": up, "tanh_saturation_cost": up, "sigmoid_saturation_cost": up}
    good = {"final": {**final, "leaky relu, large lr": 0.3}, "accuracy_contrasts": contrasts}
    assert _verdict("hidden_units", good) is True
    assert _verdict("hidden_units", {**good, "final": {**good["final"],
                                                       "relu, large lr": 0.08}}) is False
    assert _verdict("hidden_units", {**good, "final": {**good["final"],
                                                       "tanh, large init": 0.05}}) is False
    for key in contrasts:
        flat = paired_interval([0.01, -0.02, 0.0, 0.01, 0.0])
        assert _verdict("hidden_units", {**good, "accuracy_contrasts":
                                         {**contrasts, key: flat}}) is False, key


def test_cnn_filters_verdict_and_measures():
    from kdl.experiments.cnn_filters import neighbour_correlation, object_share

    from kdl.experiments._common import paired_interval

    good = {"filter_smoothness": {"initial": 0.0, "trained": 0.4}, "saliency_on_object": 0.8,
            "object_area": 0.4, "test_accuracy": 0.9, "saliency_on_object_untrained": 0.6,
            "saliency_gain_over_untrained": paired_interval([0.2, 0.25, 0.15])}
    assert _verdict("cnn_filters", good) is True
    assert _verdict("cnn_filters", {**good, "saliency_on_object": 0.3}) is False
    # An untrained net as much on the garment: the interval of the gain straddles 0.
    assert _verdict("cnn_filters", {**good, "saliency_gain_over_untrained":
                                    paired_interval([0.1, -0.05, 0.02])}) is False
    assert _verdict("cnn_filters", {**good, "saliency_gain_over_untrained":
                                    paired_interval([0.2])}) is False  # one seed: no interval
    smoothed = {**good, "filter_smoothness_gain": paired_interval([0.4, 0.35, 0.45])}
    assert _verdict("cnn_filters", smoothed) is True
    assert _verdict("cnn_filters", {**smoothed, "filter_smoothness_gain":
                                    paired_interval([0.4, -0.1, 0.05])}) is False
    smooth = np.repeat(np.linspace(-1, 1, 5)[:, None], 5, axis=1)[:, :, None, None]
    assert neighbour_correlation(np.concatenate([smooth, smooth.transpose(1, 0, 2, 3)], -1)) > 0.4
    noise = np.random.default_rng(0).normal(size=(5, 5, 1, 64))
    assert abs(neighbour_correlation(noise)) < 0.1
    images = np.zeros((1, 4, 4, 1), "float32")
    images[0, :2, :2] = 1.0
    maps = np.ones((1, 4, 4))
    assert object_share(maps, images) == (0.25, 0.25)


def test_adversarial_verdict_both_ways():
    def numbers(fgsm, noise):
        return {"per_seed": {"clean": [0.9, 0.91, 0.89], "fgsm": {"0.1": fgsm},
                             "noise": {"0.1": noise}}}

    assert _verdict("adversarial", numbers([0.2, 0.25, 0.15], [0.88, 0.9, 0.87])) is True
    # one seed the attack did not fool: the mean is below half, the interval is not
    assert _verdict("adversarial", numbers([0.1, 0.1, 0.7], [0.88, 0.9, 0.87])) is False
    assert _verdict("adversarial", numbers([0.2, 0.25, 0.15], [0.5, 0.9, 0.87])) is False
    assert _verdict("adversarial", {"per_seed": {"clean": [0.9], "fgsm": {"0.1": [0.1]},
                                                 "noise": {"0.1": [0.9]}}}) is False


def test_fgsm_moves_every_pixel_by_epsilon_within_range():
    import keras

    from kdl.experiments.adversarial import fgsm

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    x = np.full((2, 4, 4, 1), 0.5, "float32")
    moved = fgsm(model, x, np.array([0, 1]), 0.1)
    assert np.allclose(np.abs(moved - x), 0.1, atol=1e-6)
    assert fgsm(model, np.ones_like(x), np.array([0, 1]), 0.3).max() <= 1.0


def test_transfer_verdict_both_ways():
    from kdl.experiments._common import paired_interval

    acc = {arm: {"5": {"mean": m}} for arm, m in
           (("scratch", 0.6), ("frozen to flatten", 0.7), ("fine-tuned to flatten", 0.72))}
    up, flat = paired_interval([0.1, 0.12, 0.09, 0.11, 0.1]), paired_interval([0.02, -0.03, 0, 0, 0])
    good = {"accuracy": acc, "minus_scratch": {"frozen to flatten": {"5": up},
                                               "fine-tuned to flatten": {"5": up}}}
    assert _verdict("transfer", good, labels_per_class=[5]) is True
    for arm in good["minus_scratch"]:
        worse = {**good, "minus_scratch": {**good["minus_scratch"], arm: {"5": flat}}}
        assert _verdict("transfer", worse, labels_per_class=[5]) is False, arm


def test_transfer_copies_the_layers_up_to_the_cut_and_freezes_them_if_asked():
    from kdl.experiments.transfer import _target_model
    from kdl.models import get_model

    source = get_model("lenet5", classes=5)
    settings = {**get_experiment("transfer").smoke}
    model = _target_model("frozen to pool2", source, settings, seed=3)
    for name in ("conv1", "conv2"):
        np.testing.assert_array_equal(model.get_layer(name).get_weights()[0],
                                      source.get_layer(name).get_weights()[0])
        assert not model.get_layer(name).trainable
    assert not np.array_equal(model.get_layer("fc1").get_weights()[0],
                              source.get_layer("fc1").get_weights()[0])
    assert _target_model("fine-tuned to pool2", source, settings, 3).get_layer("conv1").trainable

def test_memorization_verdict_both_ways():
    from kdl.experiments._common import paired_interval
    from kdl.experiments.memorization import epochs_to

    def spread(mean):
        return {"mean": mean, "std": 0.01}

    good = {"train_accuracy": {"0.0": spread(1.0), "0.5": spread(1.0), "1.0": spread(0.99)},
            "test_accuracy": {"0.0": spread(0.85), "0.5": spread(0.6), "1.0": spread(0.1)},
            "test_minus_chance": {"1.0": paired_interval([0.005, -0.004, 0.002])},
            "extra_epochs_for_noise": paired_interval([40, 35, 50])}
    assert _verdict("memorization", good) is True
    assert _verdict("memorization", {**good, "train_accuracy": {
        **good["train_accuracy"], "1.0": spread(0.6)}}) is False  # did not memorize
    assert _verdict("memorization", {**good, "test_minus_chance": {
        "1.0": paired_interval([0.1, 0.12, 0.09])}}) is False  # above chance: not random
    assert _verdict("memorization", {**good, "extra_epochs_for_noise":
                                     paired_interval([5, -10, 2])}) is False
    assert epochs_to([0.2, 0.96, 0.99], 0.95) == 2 and epochs_to([0.2, 0.5], 0.95) == 3


def test_label_noise_replaces_that_share_of_the_training_labels_only():
    from kdl.data.dataset import noisy_labels

    labels = np.arange(10_000) % 10
    half = noisy_labels(labels, 0.5, 10, seed=0)
    changed = np.mean(half != labels)
    assert 0.5 * 0.9 - 0.02 < changed < 0.5 * 0.9 + 0.02  # a tenth of the redrawn stay right
    assert np.array_equal(half, noisy_labels(labels, 0.5, 10, seed=0))
    assert not np.array_equal(half, noisy_labels(labels, 0.5, 10, seed=1))
    assert np.array_equal(noisy_labels(labels, 0.0, 10, seed=0), labels)


def test_invariance_verdict_both_ways_and_its_transforms():
    from kdl.experiments._common import paired_interval
    from kdl.experiments.invariance import permuted, shifted

    good = {"permutation_cost": {"mlp": paired_interval([0.004, -0.003, 0.001, 0.0, 0.002]),
                                 "lenet5": paired_interval([0.05, 0.06, 0.04, 0.05, 0.07])},
            "shift_cost_mlp_minus_lenet5": paired_interval([0.2, 0.25, 0.22, 0.18, 0.21])}
    assert _verdict("invariance", good) is True
    assert _verdict("invariance", {**good, "permutation_cost": {
        **good["permutation_cost"], "mlp": paired_interval([0.05, 0.06, 0.04, 0.05, 0.07])}}) is False
    assert _verdict("invariance", {**good, "permutation_cost": {
        **good["permutation_cost"], "lenet5": paired_interval([0.01, -0.02, 0.0, 0.01, -0.01])}}) is False
    assert _verdict("invariance", {**good, "shift_cost_mlp_minus_lenet5":
                                   paired_interval([-0.1, -0.05, -0.08, -0.1, -0.02])}) is False
    images = np.arange(2 * 4 * 4, dtype="float32").reshape(2, 4, 4, 1)
    order = np.random.default_rng(0).permutation(16)
    assert sorted(permuted(images, order)[0].ravel()) == sorted(images[0].ravel())
    moved = shifted(images, 1, seed=0)
    assert moved.shape == images.shape and (moved == 0).sum() >= 2 * 4  # a border of zeros
    assert np.isin(moved[moved != 0], images).all()


def test_the_notebook_command_writes_a_valid_notebook_and_refuses_a_bad_path(tmp_path, capsys):
    import nbformat

    from kdl import cli
    from kdl.experiments._notebook import write_notebook

    path = write_notebook("optimizers", str(tmp_path / "nb" / "optimizers.ipynb"), execute=False)
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    sources = [c.source for c in notebook.cells]
    assert "experiment.verdict(numbers, settings)" in "".join(sources)
    assert sources[-1].startswith("## Change this") and "seeds = list(range(" in sources[-1]
    assert cli.main(["experiment", "optimizers", "--notebook", str(tmp_path / "x.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ends in .ipynb" in err[0] and not (tmp_path / "x.txt").exists()


def test_deep_signal_verdict_both_ways():
    from kdl.experiments._common import paired_interval
    from kdl.experiments.deep_signal import ARMS

    def at(value):
        return paired_interval([value - 0.05, value, value + 0.05])

    def table(deep, middle=0.0):
        return {"10": at(0.0), "30": at(middle), "100": at(deep)}

    fwd = {**{arm: table(0.0) for arm in ARMS}, "ReLU, Glorot": table(-15.0),
           **{f"{arm} + BN": table(0.0) for arm in ARMS}}
    bwd = {**{arm: table(0.0) for arm in ARMS}, "sigmoid, Glorot": table(-20.0, -5.0),
           **{f"{arm} + BN": table(3.0) for arm in ARMS}}
    good = {"forward_log10": fwd, "backward_log10": bwd}
    assert _verdict("deep_signal", good) is True
    assert _verdict("deep_signal", {**good, "forward_log10": {
        **fwd, "ReLU, He": table(-3.0)}}) is False  # He's scale lost the signal too
    assert _verdict("deep_signal", {**good, "backward_log10": {
        **bwd, "sigmoid, Glorot": table(0.0, 0.0)}}) is False  # sigmoid's gradient kept
    assert _verdict("deep_signal", {**good, "forward_log10": {
        **fwd, "tanh, Glorot + BN": table(-2.0)}}) is False


def test_capacity_verdict_both_ways():
    from kdl.experiments._common import paired_interval
    from kdl.experiments.capacity import parameters

    def spread(mean):
        return {"mean": mean, "std": 0.01}

    widths = [4, 16, 64, 256, 1024]
    def table(*means):
        return {str(w): spread(m) for w, m in zip(widths, means, strict=True)}

    good = {"train_accuracy": {"random": table(0.3, 0.5, 0.8, 0.99, 1.0),
                               "real": table(0.8, 0.9, 0.95, 0.99, 1.0)},
            "widest_minus_narrowest": paired_interval([0.7, 0.68, 0.72]),
            "real_minus_random_narrowest": paired_interval([0.5, 0.52, 0.49])}
    assert _verdict("capacity", good) is True
    random = good["train_accuracy"]["random"]
    assert _verdict("capacity", {**good, "train_accuracy": {
        **good["train_accuracy"], "random": {**random, "1024": spread(0.9)}}}) is False
    assert _verdict("capacity", {**good, "train_accuracy": {
        **good["train_accuracy"], "random": {**random, "4": spread(0.7)}}}) is False
    assert _verdict("capacity", {**good, "real_minus_random_narrowest":
                                 paired_interval([0.01, -0.02, 0.0])}) is False
    assert parameters(4) == 784 * 4 + 4 + 4 * 10 + 10


def test_depth_degradation_verdict_both_ways():
    from kdl.experiments._common import paired_interval

    def loss(plain20, plain56, res20, res56):
        return {"plain": {"20": {"mean": plain20}, "56": {"mean": plain56}},
                "residual": {"20": {"mean": res20}, "56": {"mean": res56}}}

    good = {"train_loss": loss(0.30, 0.45, 0.25, 0.22),
            "plain_depth_penalty": paired_interval([0.14, 0.15, 0.16]),
            "shortcut_relief": paired_interval([-0.17, -0.18, -0.19])}
    assert _verdict("depth_degradation", good) is True
    assert _verdict("depth_degradation", {**good, "plain_depth_penalty":
                                          paired_interval([0.05, -0.02, 0.01])}) is False
    assert _verdict("depth_degradation", {**good, "shortcut_relief":
                                          paired_interval([-0.05, 0.02, 0.01])}) is False
    with pytest.raises(ValueError, match="Received: depths=\\[56, 20\\]"):
        get_experiment("depth_degradation").run(
            {**get_experiment("depth_degradation").smoke, "depths": [56, 20]}, [0], "x.png")


def test_batch_size_verdict_both_ways():
    from kdl.experiments._common import paired_interval

    speed = {"16": {"mean": 4000.0}, "1024": {"mean": 60000.0}}
    good = {"updates_compared": 60, "images_per_second": speed,
            "large_better_per_update": paired_interval([0.3, 0.35, 0.32, 0.31, 0.3]),
            "small_better_per_epoch": paired_interval([0.8, 0.82, 0.79, 0.81, 0.8]),
            "small_noisier_log10": paired_interval([0.9, 0.95, 0.92, 0.91, 0.9])}
    assert _verdict("batch_size", good) is True
    for key in ("large_better_per_update", "small_better_per_epoch", "small_noisier_log10"):
        assert _verdict("batch_size", {**good, key: paired_interval(
            [0.05, -0.04, 0.01, 0.0, 0.02])}) is False, key


def test_batch_size_reads_each_window_of_the_batch_log():
    from kdl.experiments.batch_size import _last_epoch, _loss_at, _noise, _throughput

    run = {"step": list(range(1, 21)), "epoch": [0] * 10 + [1] * 10,
           "loss": [2.0] * 10 + [1.0, 1.2] * 5}
    assert _loss_at(run, 10) == 2.0 and _loss_at(run, 20) == pytest.approx(1.1)  # steps 19 and 20
    assert _last_epoch(run).tolist() == [1.0, 1.2] * 5
    assert _noise(run) == pytest.approx(np.std([0.2, -0.2] * 4 + [0.2]) / np.sqrt(2))
    rows = [{"epoch": e, "seconds": s} for e, s in [(0, 1.0), (0, 5.0), (1, 6.0), (1, 7.0)]]
    assert _throughput(rows, 10) == pytest.approx(20 / 2.0)  # the last epoch only


def test_data_scaling_verdict_both_ways():
    from kdl.experiments._common import paired_interval
    from kdl.experiments.data_scaling import epochs_for

    def acc(low, high):
        return {"100": {"mean": low}, "54000": {"mean": high}}

    up = paired_interval([0.2, 0.21, 0.19])
    good = {"test_accuracy": {"logistic": acc(0.65, 0.84), "lenet5": acc(0.66, 0.90),
                              "vit": acc(0.50, 0.88)},
            "largest_minus_smallest": {"logistic": up, "lenet5": up, "vit": up},
            "cnn_lead_growth": paired_interval([0.05, 0.06, 0.04]),
            "vit_catch_up": paired_interval([0.14, 0.13, 0.15])}
    assert _verdict("data_scaling", good) is True
    flat = paired_interval([0.01, -0.01, 0.0])
    assert _verdict("data_scaling", {**good, "largest_minus_smallest": {
        **good["largest_minus_smallest"], "vit": flat}}) is False
    assert _verdict("data_scaling", {**good, "cnn_lead_growth": flat}) is False
    assert _verdict("data_scaling", {**good, "vit_catch_up": flat}) is False
    settings = get_experiment("data_scaling").settings
    assert epochs_for(100, settings) == 100 and epochs_for(54000, settings) == 3
    assert epochs_for(3000, settings) == 11  # 47 batches of 64: 500 updates in 11 epochs


def test_every_recorded_verdict_is_its_function_of_the_recorded_numbers():
    """docs/experiments/NAME.json is what the page renders: its verdict, recomputed by the
    experiment's code as it stands from the numbers the run measured, is the one stored (a
    verdict function changed after a record shows here, not on the page)."""
    import pathlib

    records = sorted((pathlib.Path(__file__).parents[1] / "docs" / "experiments").glob("*.json"))
    assert len(records) >= 18
    for path in records:
        r = json.loads(path.read_text())
        assert get_experiment(r["experiment"]).verdict(r["numbers"], r["settings"]) == (
            r["supported"], r["verdict"]), path.name
