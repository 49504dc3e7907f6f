"""KerasTuner: every recipe's HyperModel, `kdl tune` resume, and distributed tuning
with a chief and two workers on localhost."""

import json
import os
import socket
import subprocess
import sys

import keras_tuner
import pytest

from kdl.recipes import get_recipe, list_recipes
from kdl.tuning import RecipeHyperModel, completed_trials, trials_run
from tests.conftest import ROOT, fashion_mnist_available

needs_data = pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST missing")


def kdl(*args, cwd, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, "-m", "kdl.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", list_recipes())
def test_untuned_recipe_is_a_point_of_its_space(name):
    recipe = get_recipe(name)
    hypermodel = RecipeHyperModel(recipe, data=None)
    hp = keras_tuner.HyperParameters()
    tuned = hypermodel.recipe_for(hp)  # registers every hyperparameter at its default
    assert "learning_rate" in hp.values and "optimizer" in hp.values
    assert tuned.learning_rate == recipe.learning_rate
    assert tuned.optimizer == recipe.optimizer
    assert tuned.weight_decay == recipe.weight_decay
    assert tuned.augmentation == recipe.augmentation
    for key, value in recipe.model_args.items():
        assert tuned.model_args[key] == value, key
    # Every hyperparameter of the space starts at its default: the recipe is its first point.
    assert {p.name for p in hp.space} >= {"learning_rate", "optimizer", "weight_decay"}
    for p in hp.space:
        assert hp.values[p.name] == p.default, p.name


@pytest.mark.slow
@needs_data
def test_tune_resumes_without_redoing_trials(tmp_path):
    args = ["tune", "mlp_fashion_mnist", "--tuner", "random", "--max-trials", "2", "--epochs",
            "1", "--workdir", str(tmp_path / "w"), "--set", "max_train_examples=4096", "--json"]
    first = kdl(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    report = json.loads(first.stdout.strip().splitlines()[-1])
    assert len(report["trials"]) == 2 and report["trials"][0]["rank"] == 1
    scores = [t["score"] for t in report["trials"]]
    assert scores == sorted(scores, reverse=True)
    again = kdl(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(trials_run(str(tmp_path / "w"), "mlp_fashion_mnist")) == 2  # nothing redone


@pytest.mark.parametrize("args, fragment", [
    (["--tuner", "genetic"], "Unknown tuner 'genetic'"),
    (["--max-trials", "0"], "--max-trials must be a positive integer"),
])
def test_tune_bad_input_is_status_2(args, fragment, tmp_path):
    out = kdl("tune", "mlp_fashion_mnist", *args, "--workdir", str(tmp_path / "w"), cwd=tmp_path)
    assert out.returncode == 2 and fragment in out.stderr, out.stderr[-2000:]
    assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_port_in_use_and_unreachable_chief_are_status_2(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = kdl("tune", "mlp_fashion_mnist", "--chief", "--oracle-port", str(port),
                  "--workdir", str(tmp_path / "w"), cwd=tmp_path)
        assert out.returncode == 2 and "already in use" in out.stderr, out.stderr[-2000:]
    out = kdl("tune", "mlp_fashion_mnist", "--worker", "0", "--oracle-port", str(port),
              "--connect-timeout", "2", "--workdir", str(tmp_path / "w"), cwd=tmp_path)
    assert out.returncode == 2 and "could not reach the chief" in out.stderr, out.stderr[-2000:]
    assert not (tmp_path / "w").exists()


@pytest.mark.slow
@needs_data
def test_distributed_tuning_chief_and_two_workers(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    common = ["tune", "mlp_fashion_mnist", "--tuner", "random", "--max-trials", "4",
              "--epochs", "1", "--workdir", str(tmp_path / "w"), "--oracle-port", port,
              "--set", "max_train_examples=2048", "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    chief = subprocess.Popen([sys.executable, "-m", "kdl.cli", *common, "--chief"], cwd=tmp_path,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = [subprocess.Popen([sys.executable, "-m", "kdl.cli", *common, "--worker", str(i)],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(2)]
    for w in workers:
        out, err = w.communicate(timeout=600)
        assert w.returncode == 0, err[-3000:]
    out, err = chief.communicate(timeout=120)
    assert chief.returncode == 0, err[-3000:]
    runs = trials_run(str(tmp_path / "w"), "mlp_fashion_mnist")
    trial_ids = [t for _, t in runs]
    assert len(trial_ids) == 4 and len(set(trial_ids)) == 4  # each trial run once
    assert {tuner for tuner, _ in runs} <= {"tuner0", "tuner1"}
    done = [t for t in completed_trials(str(tmp_path / "w"), "mlp_fashion_mnist")
            if t["status"] == "COMPLETED"]
    assert len(done) == 4


def test_a_trial_shows_live_progress_on_a_terminal_only():
    import io

    import numpy as np

    from kdl.callbacks import LiveEpochProgress
    from kdl.tuning import trial_progress
    from tests.conftest import tiny_model

    assert trial_progress(3, 32, live=False) == []
    (live,) = trial_progress(3, 32, live=True)
    assert isinstance(live, LiveEpochProgress) and live.epochs == 3
    live.stream, live.interval, lines = io.StringIO(), 0.0, []
    live.print_fn = lines.append
    model = tiny_model()
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(np.zeros((64, 5), "float32"), np.zeros(64, "int64"), batch_size=8, epochs=1,
              verbose=0, callbacks=[live])
    drawn = live.stream.getvalue()
    assert "\rtrial: epoch 1/3  step " in drawn and "img/s" in drawn  # redrawn within the epoch
    assert len(lines) == 1 and lines[0].startswith("trial: epoch 1/3")  # then the epoch line
