"""The `kdl` command as a person meets it: one line for bad input, no TensorFlow noise,
short progress lines, a report with figures, one run per workdir, seeds and determinism;
and the package's layers pointing one way (nothing but the CLI imports the CLI)."""

import json
import os
import pathlib
import signal
import struct
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, fashion_mnist_available

needs_data = pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST missing")


def kdl(*args, cwd=None, timeout=600, env=None):
    return subprocess.run([sys.executable, "-m", "kdl.cli", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


# Every bad input the README promises one line for, and some more.
BAD_INPUTS = [
    (["train", "lenet5_fashion_mnis"], {}, "Did you mean: lenet5_fashion_mnist"),
    (["train", "lenet5_fashion_mnist", "--epochs", "0"], {}, "--epochs must be a positive integer"),
    (["train", "lenet5_fashion_mnist", "--batch-size", "-3"], {}, "--batch-size"),
    (["train", "lenet5_fashion_mnist", "--seeds", "0"], {}, "--seeds must be a positive integer"),
    (["train", "lenet5_fashion_mnist", "--set", "learnig_rate=1"], {}, "learnig_rate"),
    (["train", "lenet5_fashion_mnist", "--set", "epochs=many"], {}, "epochs='many'"),
    (["train", "lenet5_fashion_mnist", "--set", "optimizer=adamax"], {}, "optimizer 'adamax'"),
    (["train", "lenet5_fashion_mnist", "--set", "early_stopping=sometimes"], {}, "sometimes"),
    (["train", "mlp_fashion_mnist", "--smoke", "--strategy", "multi_worker"],
     {"TF_CONFIG": "{broken"}, "TF_CONFIG is not valid JSON"),
    (["train", "resnet20_cifar10"], {"KDL_OFFLINE": "1", "TFDS_DATA_DIR": "/nonexistent/tfds"},
     "internet"),
    (["train", "char_rnn_pystdlib", "--set", "data=text:/nonexistent"], {}, "/nonexistent"),
    (["train", "lenet5_fashion_mnist", "--data", "folder:/nonexistent"], {}, "does not exist"),
    (["train", "char_rnn_pystdlib", "--set", "data_dir=/nonexistent"], {}, "data_dir"),
    (["tune", "lenet5_fashion_mnist", "--tuner", "genetic"], {}, "genetic"),
    (["tune", "lenet5_fashion_mnist", "--max-trials", "0"], {}, "--max-trials must be a positive"),
    (["evaluate", "mlp_fashion_mnist"], {}, "No trained model"),
    (["predict", "/nonexistent/export", "a.png"], {}, "No SavedModel"),
    (["report", "/nonexistent/run"], {}, "No kdl run"),
    (["trian", "lenet5_fashion_mnist"], {}, "invalid choice: 'trian'"),
]


# Three cases run as a person runs them, in a fresh process, where TensorFlow's start-up lines
# would show (an argparse error, a recipe setting refused after TensorFlow's import, a data
# spec); the others call the same main() in this process (one TensorFlow import, not 19).
IN_A_FRESH_PROCESS = {"invalid choice: 'trian'", "optimizer 'adamax'", "does not exist"}


@pytest.mark.parametrize("args, env, fragment", BAD_INPUTS, ids=[" ".join(a[0][:3]) for a in BAD_INPUTS])
def test_bad_input_is_exactly_one_line_and_status_2(args, env, fragment, tmp_path, capsys,
                                                    monkeypatch):
    workdir = ["--workdir", str(tmp_path / "w")] if args[0] in ("train", "evaluate", "tune") else []
    if fragment in IN_A_FRESH_PROCESS:
        out = kdl(*args, *workdir, cwd=tmp_path, env=env)
        code, stderr = out.returncode, out.stderr
    else:
        from kdl.cli import main

        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        try:
            code = main([*args, *workdir])
        except SystemExit as exit_:  # argparse's errors
            code = exit_.code
        stderr = capsys.readouterr().err
    assert code == 2, stderr[-3000:]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr[-3000:]  # no TensorFlow start-up lines before it
    assert "error:" in lines[0] and fragment in lines[0], lines[0]
    assert not (tmp_path / "w").exists() and not (tmp_path / "saved_models").exists()


@pytest.mark.slow
def test_verbose_brings_tensorflows_startup_lines_back(tmp_path):
    bad = ["train", "lenet5_fashion_mnist", "--set", "optimizer=adamax"]
    quiet = kdl(*bad, cwd=tmp_path)
    loud = kdl("--verbose", *bad, cwd=tmp_path)
    by_env = kdl(*bad, cwd=tmp_path, env={"KDL_VERBOSE": "1"})
    assert quiet.returncode == loud.returncode == by_env.returncode == 2
    assert len(quiet.stderr.strip().splitlines()) == 1
    # TensorFlow's C++ lines (absl's preamble at least) are there again.
    assert len(loud.stderr.strip().splitlines()) > 1 and "absl" in loud.stderr, loud.stderr
    assert len(by_env.stderr.strip().splitlines()) > 1


# --- progress, report ---------------------------------------------------------------------

def test_epoch_progress_line_is_short_and_shows_what_a_learner_looks_for():
    import keras

    from kdl.callbacks import ActivationMonitor, EpochProgress, LearningRateLogger

    lines = []
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="h1"),
                              keras.layers.Dense(16, activation="tanh", name="h2"),
                              keras.layers.Dense(3, activation="softmax", name="predictions")])
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.01, 8)),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, 64)
    monitor = ActivationMonitor(x[:32])
    history = model.fit(x, y, validation_data=(x, y), epochs=2, batch_size=16, verbose=0,
                        callbacks=[monitor, LearningRateLogger(),
                                   EpochProgress(2, print_fn=lines.append)])
    assert len(lines) == 2 and all(len(line) < 200 for line in lines), lines
    for key in ("epoch 1/2", "loss", "accuracy", "val_loss", "val_accuracy", "lr ", "ETA"):
        assert key in lines[0], lines[0]
    assert "act/" not in lines[0] and "ETA" not in lines[1]
    # The statistics and the learning rate stay in the logs (for the CSV and TensorBoard).
    assert "act/h1/dead" in history.history and "act/h2/saturated" in history.history
    np.testing.assert_allclose(history.history["learning_rate"][-1], 0.0, atol=1e-7)  # 8 steps done


@needs_data
def test_report_draws_the_run_and_its_confusion_matrix_equals_the_test_metrics(tmp_path):
    from kdl.recipes import get_recipe
    from kdl.report import write_report
    from kdl.engine.loop import train_and_evaluate

    recipe = get_recipe("lenet5_fashion_mnist").smoke().replace(epochs=2, log_every_n_batches=3)
    result = train_and_evaluate(recipe, str(tmp_path / "w"), verbose=0)
    index = write_report(str(tmp_path / "w"))
    out = tmp_path / "w" / "report"
    assert index == str(out / "index.html")
    sizes = {name: png_size(out / name) for name in
             ("curves.png", "confusion_matrix.png", "mistakes.png", "hidden_units.png",
              "batch_loss.png")}
    assert sizes["curves.png"] == (1500, 400)  # loss, accuracy and learning-rate panels
    assert sizes["confusion_matrix.png"] == (1400, 600)
    assert sizes["mistakes.png"][0] == 1600 and sizes["hidden_units.png"][0] >= 1000
    numbers = json.loads((out / "report.json").read_text())
    matrix = np.array(numbers["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 1024  # the smoke test split
    assert abs(numbers["accuracy"] - result.test_metrics["accuracy"]) < 1e-6
    assert abs(np.trace(matrix) / matrix.sum() - result.test_metrics["accuracy"]) < 1e-6
    page = (out / "index.html").read_text()
    assert all(name in page for name in sizes)


def test_tuning_report_plots_the_trials(tmp_path):
    from kdl.report import write_tuning_report

    for i, (score, lr) in enumerate([(0.5, 1e-3), (0.7, 3e-3), (0.6, 1e-2)]):
        d = tmp_path / f"trial_{i:02d}"
        d.mkdir()
        (d / "trial.json").write_text(json.dumps({
            "trial_id": f"{i:02d}", "status": "COMPLETED", "score": score,
            "hyperparameters": {"values": {"learning_rate": lr}}}))
    index = write_tuning_report(str(tmp_path), "val_accuracy")
    assert png_size(tmp_path / "report" / "trials.png") == (1200, 400)
    assert "0.7000 (trial 01" in pathlib.Path(index).read_text()


# --- one run per workdir ------------------------------------------------------------------

HOLD = ("import sys, time; from kdl.engine.workdir import lock_workdir; lock_workdir(sys.argv[1]); "
        "print('held', flush=True); time.sleep(600)")


@pytest.mark.slow
@needs_data
def test_a_workdir_in_use_is_refused_and_a_stale_lock_taken_over(tmp_path):
    work = tmp_path / "w"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(work)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        args = ["train", "mlp_fashion_mnist", "--smoke", "--workdir", str(work), "--no-export",
                "--no-report", "--json"]
        out = kdl(*args, cwd=tmp_path)
        assert out.returncode == 2, out.stderr[-3000:]
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and f"in use by process {holder.pid}" in lines[0], lines
        assert sorted(os.listdir(work)) == [".kdl.lock"]  # nothing of the second run written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert json.loads((work / ".kdl.lock").read_text())["pid"] == holder.pid  # left behind
    out = kdl(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["epochs_run"] == 1


@pytest.mark.slow
def test_the_lock_is_per_process_and_released(tmp_path):
    from kdl.engine.workdir import lock_workdir, unlock_workdir

    d = str(tmp_path)
    path = lock_workdir(d)
    assert lock_workdir(d) == path  # this process again: a no-op

    def probe():
        return subprocess.run([sys.executable, "-c", HOLD.replace("time.sleep(600)", "pass"), d],
                              capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})

    taken = probe()
    assert taken.returncode != 0 and "WorkdirInUseError" in taken.stderr
    unlock_workdir(d)
    assert probe().returncode == 0


# --- seeds, determinism, early stopping --------------------------------------------------

@pytest.mark.slow
@needs_data
def test_seeds_train_each_seed_and_report_mean_and_std(tmp_path):
    out = kdl("train", "mlp_fashion_mnist", "--smoke", "--seeds", "2", "--workdir",
              str(tmp_path / "w"), "--no-export", "--no-report", "--json", "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["n_seeds"] == 2 and [s["seed"] for s in summary["seeds"]] == [0, 1]
    accs = [s["test_metrics"]["accuracy"] for s in summary["seeds"]]
    assert accs[0] != accs[1]  # two seeds, two runs
    assert summary["test_metrics"]["accuracy"] == pytest.approx(np.mean(accs))
    assert summary["test_metrics_std"]["accuracy"] == pytest.approx(np.std(accs, ddof=1))
    assert all((tmp_path / "w" / f"seed{s}" / "model.keras").exists() for s in (0, 1))


@pytest.mark.slow
@needs_data
def test_deterministic_gives_the_same_metrics_twice(tmp_path):
    results = []
    for i in range(2):
        out = kdl("train", "lenet5_fashion_mnist", "--smoke", "--epochs", "2", "--deterministic",
                  "--workdir", str(tmp_path / f"w{i}"), "--no-export", "--no-report", "--json",
                  "--quiet", cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        results.append(json.loads(out.stdout.strip().splitlines()[-1])["test_metrics"])
    assert results[0] == results[1]  # bit for bit
    assert json.loads((tmp_path / "w0" / "recipe.json").read_text())["deterministic"] is True


def test_early_stopping_never_cuts_a_decaying_schedule():
    import keras

    from kdl.recipes import get_recipe
    from kdl.engine.loop import _early_stopping

    lenet = get_recipe("lenet5_fashion_mnist")  # cosine
    assert lenet.early_stopping_mode() == "off" and _early_stopping(lenet, 0) == []
    constant = lenet.replace(schedule="constant")
    (stop,) = _early_stopping(constant, 0)
    assert constant.early_stopping_mode() == "stop" and stop.patience == lenet.early_stopping_patience
    (best,) = _early_stopping(lenet.replace(early_stopping="restore_best"), 0)
    assert best.patience > lenet.epochs and best.restore_best_weights
    assert isinstance(best, keras.callbacks.EarlyStopping)
