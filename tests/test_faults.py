"""Faults with real processes: SIGKILL during `kdl train` and during export."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, fashion_mnist_available

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST missing")]

TRAIN = ["train", "mlp_fashion_mnist", "--epochs", "6", "--json", "--set",
         "max_train_examples=16384", "--set", "early_stopping_patience=100"]


def env(**extra):
    return {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "", **extra}


def run_kdl(args, cwd, **extra):
    out = subprocess.run([sys.executable, "-m", "kdl.cli", *args], cwd=cwd, env=env(**extra),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def epochs_logged(history):
    return [int(r.split(",")[0]) for r in history.read_text().splitlines()[1:]] \
        if history.exists() else []


def test_sigkill_during_train_resumes_from_backup(tmp_path):
    reference = run_kdl([*TRAIN, "--workdir", str(tmp_path / "ref"), "--export-dir",
                         str(tmp_path / "ref_exp")], tmp_path)
    workdir = tmp_path / "killed"
    cmd = [sys.executable, "-m", "kdl.cli", *TRAIN, "--workdir", str(workdir), "--export-dir",
           str(tmp_path / "exp")]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    history = workdir / "history.csv"
    deadline = time.time() + 300
    while time.time() < deadline and len(epochs_logged(history)) < 3:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = epochs_logged(history)
    assert 3 <= len(done) < 6, done
    assert (workdir / "backup").is_dir()
    assert not (tmp_path / "exp").exists() or not os.listdir(tmp_path / "exp")
    resumed = run_kdl([*TRAIN, "--workdir", str(workdir), "--export-dir", str(tmp_path / "exp")],
                      tmp_path)
    assert resumed["epochs_run"] == 6
    assert epochs_logged(history) == done + list(range(len(done), 6))  # continued, not restarted
    assert not (workdir / "backup").exists()  # deleted once the run completed
    assert abs(resumed["test_metrics"]["accuracy"] - reference["test_metrics"]["accuracy"]) < 0.01
    assert resumed["export_path"].endswith(os.path.join("mlp_fashion_mnist", "1"))


def test_sigkill_during_export_leaves_no_partial_version(tmp_path):
    work = tmp_path / "w"
    args = ["train", "lenet5_fashion_mnist", "--smoke", "--json", "--workdir", str(work),
            "--export-dir", str(tmp_path / "exp")]
    first = run_kdl(args, tmp_path)
    assert first["export_path"].endswith("1")
    base = tmp_path / "exp" / "lenet5_fashion_mnist"
    # The export, held for a minute between its finished write and the rename into place.
    held = ("import sys, time; from kdl import export; publish = export._publish; "
            "export._publish = lambda tmp, base: (time.sleep(60), publish(tmp, base))[1]; "
            "from kdl.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", held, "export", "lenet5_fashion_mnist",
                             "--smoke", "--workdir", str(work), "--export-dir",
                             str(tmp_path / "exp")],
                            cwd=tmp_path, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:  # until the temporary SavedModel is fully written
        tmps = [d for d in os.listdir(base) if d.startswith(".tmp-")]
        if tmps and os.path.exists(base / tmps[0] / "kdl.json"):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the export never wrote its temporary directory")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert sorted(d for d in os.listdir(base) if not d.startswith(".")) == ["1"]
    second = run_kdl(["export", "lenet5_fashion_mnist", "--smoke", "--json", "--workdir",
                      str(work), "--export-dir", str(tmp_path / "exp")], tmp_path)
    assert second["export_path"].endswith(os.path.join("lenet5_fashion_mnist", "2"))
    assert os.path.exists(os.path.join(second["export_path"], "saved_model.pb"))
