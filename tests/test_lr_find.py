"""kdl lr-find: the learning-rate range test (kdl.engine.lr_find)."""

import json
import math

import numpy as np
import pytest

from kdl.engine import lr_find
from tests.conftest import fashion_mnist_available


def test_the_ramp_runs_from_min_to_max_exponentially():
    ramp = lr_find.ExponentialRamp(1e-6, 1.0, 7)
    rates = [float(ramp(step)) for step in range(7)]
    np.testing.assert_allclose(rates, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], rtol=1e-4)


def test_the_smoothing_is_centred_and_divergence_is_read_from_it():
    step = np.r_[np.ones(50), np.zeros(50)]
    smoothed = lr_find.smooth(step)
    assert smoothed[49] == pytest.approx(0.5, abs=0.11) and smoothed[50] == pytest.approx(0.5, abs=0.11)
    # A classifier's loss: starts at 2.3, falls to 1.0, diverges back to 2.3 (never 4x).
    curve = np.r_[np.full(20, 2.3), np.linspace(2.3, 1.0, 30), np.full(20, 1.0),
                  np.linspace(1.0, 2.3, 30)]
    at = lr_find.diverged(curve)
    assert at is not None and curve[at] > 1.65 and curve[at - 1] <= 1.65
    assert lr_find.diverged(np.r_[np.linspace(2.3, 0.5, 50), np.full(10, 0.5)]) is None
    unbounded = np.r_[np.linspace(1.0, 0.1, 50), np.linspace(0.1, 0.5, 20)]  # 4x its minimum
    assert unbounded[lr_find.diverged(unbounded)] > 0.4
    assert lr_find.diverged([1.0, 0.5, math.nan, 3.0]) == 2


def test_the_suggestion_is_the_steepest_fall_before_the_minimum():
    rates = np.logspace(-6, 0, 61)
    loss = 2.0 - 1.5 / (1 + np.exp(-(np.log10(rates) + 3) * 4))  # falls fastest at 1e-3
    loss[50:] += np.linspace(0, 2, 11)  # then rises
    suggested, min_over_ten = lr_find.suggest(rates, loss)
    assert suggested == pytest.approx(1e-3, rel=0.3)
    assert min_over_ten == pytest.approx(rates[int(np.argmin(loss))] / 10)


@pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST missing")
def test_lr_find_draws_its_figure_and_writes_its_result(tmp_path, capsys):
    from kdl import cli

    out = tmp_path / "lr"
    assert cli.main(["lr-find", "mlp_fashion_mnist", "--smoke", "--steps", "24", "--out",
                     str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    record = json.loads((out / "lr_find.json").read_text())
    assert (out / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary["batches"] == len(record["losses"]) and 3 <= len(record["losses"]) <= 24
    assert record["rates"] == sorted(record["rates"]) and record["rates"][0] == pytest.approx(1e-7)
    assert record["config"]["name"] == "mlp_fashion_mnist" and "machine" in record
    assert summary["suggested"] is None or 1e-7 <= summary["suggested"] <= 10
    assert cli.main(["lr-find", "mlp_fashion_mnist", "--smoke", "--min-lr", "1", "--max-lr",
                     "0.1", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Received: min_lr=1.0, max_lr=0.1" in err[0]
    assert not (tmp_path / "bad").exists()
