"""Experiments: every registered one runs its smoke form and writes a PNG and a JSON with
a computed verdict; each verdict is checked both ways on made-up numbers."""

import json

import pytest

from kdl.experiments import get_experiment, list_experiments, run_experiment
from tests.test_cli import kdl, png_size


def test_the_course_claims_are_registered():
    assert {"perceptron_xor", "universal_approximation"} <= set(list_experiments())
    with pytest.raises(ValueError, match="Did you mean: perceptron_xor"):
        get_experiment("perceptron_xo")


@pytest.mark.parametrize("name", list_experiments())
def test_smoke_run_writes_a_figure_and_its_numbers(name, tmp_path):
    record = run_experiment(name, smoke=True, out=str(tmp_path))
    width, height = png_size(tmp_path / f"{name}.png")
    assert width >= 800 and height >= 300
    saved = json.loads((tmp_path / f"{name}.json").read_text())
    assert saved["claim"] == get_experiment(name).claim and saved["smoke"] is True
    assert isinstance(saved["supported"], bool) and saved["verdict"]
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
    assert verdict({**good, "mlp_xor_accuracy": [1.0, 0.75]}, {})[0] is False
    assert verdict({**good, "perceptron_xor_curves": [[1.0, 0.0]]}, {})[0] is False
    bad_and = {**good, "perceptron_final_errors": {**good["perceptron_final_errors"],
                                                   "AND": [0.25, 0.0]}}
    assert verdict(bad_and, {})[0] is False


def test_universal_approximation_verdict_both_ways():
    experiment = get_experiment("universal_approximation")
    settings = experiment.settings
    assert experiment.verdict({"widths": [1, 32], "mse": [0.3, 0.001]}, settings)[0] is True
    assert experiment.verdict({"widths": [1, 32], "mse": [0.3, 0.2]}, settings)[0] is False
    assert experiment.verdict({"widths": [1, 32], "mse": [0.3, 0.01]}, settings)[0] is False


def test_the_command_prints_claim_table_and_verdict(tmp_path):
    out = kdl("experiment", "perceptron_xor", "--smoke", "--out", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("claim: A perceptron") and "verdict: " in out.stdout
    listed = kdl("experiment", "list", cwd=tmp_path)
    assert "universal_approximation" in listed.stdout
    bad = kdl("experiment", "perceptrn", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
