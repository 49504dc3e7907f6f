"""Faults with real processes: SIGKILL during `kdl train` and during export."""

import glob
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
    runner = [KILLER] if "KDL_REFUSE_IMPORT" in extra else ["-m", "kdl.cli"]
    out = subprocess.run([sys.executable, *runner, *args], cwd=cwd, env=env(**extra),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def epochs_logged(history):
    return [int(r.split(",")[0]) for r in history.read_text().splitlines()[1:]] \
        if history.exists() else []


def kill_after_epochs(args, workdir, cwd, epochs: int, poll: float = 0.2,
                      **extra) -> list[int]:
    """Start ``kdl ARGS --workdir WORKDIR`` (environment ``extra`` added; with
    ``KDL_REFUSE_IMPORT``, through tests/_kill_at.py), SIGKILL it once ``epochs`` epochs
    are in its history.csv; returns the epochs logged by then."""
    runner = [KILLER] if "KDL_REFUSE_IMPORT" in extra else ["-m", "kdl.cli"]
    cmd = [sys.executable, *runner, *args, "--workdir", str(workdir)]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env(**extra), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    history = workdir / "history.csv"
    deadline = time.time() + 300
    while time.time() < deadline and len(epochs_logged(history)) < epochs:
        time.sleep(poll)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return epochs_logged(history)


def test_sigkill_during_train_resumes_from_backup(tmp_path):
    reference = run_kdl([*TRAIN, "--workdir", str(tmp_path / "ref"), "--export-dir",
                         str(tmp_path / "ref_exp")], tmp_path)
    workdir = tmp_path / "killed"
    history = workdir / "history.csv"
    done = kill_after_epochs([*TRAIN, "--export-dir", str(tmp_path / "exp")], workdir, tmp_path, 3)
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


WITHOUT_TF = {"KDL_REFUSE_IMPORT": "tensorflow,tensorflow_datasets"}


def test_sigkill_without_tensorflow_resumes_to_the_unbroken_result(tmp_path):
    """On JAX with TensorFlow's import refused (Keras' PyDataset feeds, kdl.data.feed):
    killed after 2 epochs of 4, the run resumes at its backup and ends where an unbroken
    run ends, bit for bit: each epoch's batches come from (seed, epoch), not from how
    long the process has been running. (Dropout off: Keras' backup keeps the weights and
    the optimizer, not its seed generators' state, so with dropout the resumed run draws
    other masks and ends within noise, not bit for bit.)"""
    args = ["train", "mlp_fashion_mnist", "--backend", "jax", "--epochs", "4", "--json",
            "--no-export", "--no-report", "--deterministic", "--set", "max_train_examples=4096",
            "--set", "max_test_examples=1024", "--set", "early_stopping_patience=100",
            "--set", "model_args.dropout=0.0"]
    reference = run_kdl([*args, "--workdir", str(tmp_path / "ref")], tmp_path, **WITHOUT_TF)
    workdir = tmp_path / "killed"
    done = kill_after_epochs(args, workdir, tmp_path, 2, poll=0.05, **WITHOUT_TF)
    assert 2 <= len(done) < 4, done
    resumed = run_kdl([*args, "--workdir", str(workdir)], tmp_path, **WITHOUT_TF)
    assert epochs_logged(workdir / "history.csv") == done + list(range(len(done), 4))
    ran = json.loads((workdir / "recipe.json").read_text())
    assert ran["input_pipeline"] == "pydataset"
    assert resumed["test_metrics"] == reference["test_metrics"]


FINE_TUNE = ["train", "lenet5_fashion_mnist", "--epochs", "5", "--json", "--no-export",
             "--no-report", "--set", "max_train_examples=16384", "--set", "max_test_examples=1024",
             "--set", "init_from=card:lenet5_fashion_mnist", "--set", "freeze=backbone",
             "--set", "unfreeze_epoch=3"]


def test_sigkill_in_a_frozen_phase_resumes_there_and_then_unfreezes(tmp_path):
    """A fine-tuning run killed in its first (frozen) phase resumes in it, and its second
    phase then starts where it should (Keras keeps the epoch a resumed fit restored: cleared
    by kdl between the phases), each epoch run once."""
    workdir = tmp_path / "tuned"
    history = workdir / "history.csv"
    done = kill_after_epochs(FINE_TUNE, workdir, tmp_path, 1, poll=0.1)
    assert 1 <= len(done) < 3, done  # killed in the frozen phase
    assert (workdir / "backup_frozen").is_dir()
    resumed = run_kdl([*FINE_TUNE, "--workdir", str(workdir)], tmp_path)
    assert resumed["epochs_run"] == 5
    assert epochs_logged(history) == list(range(5))  # each epoch once, in order
    assert not (workdir / "backup_frozen").exists() and not (workdir / "backup").exists()


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


# --- kill -9 at the instant a file is published (tests/_kill_at.py) ----------------------
# The command killed runs in a subprocess; the runs before and after it run in-process
# (kdl.cli.main), which saves a TensorFlow start each.

KILLER = str(ROOT / "tests" / "_kill_at.py")
# Extra kill points per command for `make fuzz` (KDL_FUZZ_KILLS=N); make test runs the fixed ones.
EXTRA_KILLS = int(os.environ.get("KDL_FUZZ_KILLS", "0"))


def killed_at(args, cwd, point, **extra):
    """Run ``kdl ARGS`` killed at ``point`` (PATTERN:N); returns the exit status (-9 if
    it got there, 0 if the run ended first)."""
    out = subprocess.run([sys.executable, KILLER, *args], cwd=cwd,
                         env=env(KDL_KILL_AT=point, **extra),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode in (0, -signal.SIGKILL), out.stderr[-3000:]
    return out.returncode


def in_process(args, cwd, monkeypatch, capsys):
    """``kdl ARGS --json`` in this process, from ``cwd``; returns its JSON answer."""
    from kdl import cli

    monkeypatch.chdir(cwd)
    capsys.readouterr()
    status = cli.main([*args, "--json"])
    out, err = capsys.readouterr()
    assert status == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def check_whole(directory):
    """Every JSON file under ``directory`` parses, every PNG decodes, no temporary is visible."""
    from PIL import Image

    for path in glob.glob(os.path.join(directory, "**", "*"), recursive=True):
        if path.endswith(".json"):
            json.load(open(path))
        elif path.endswith(".png"):
            Image.open(path).verify()


TINY = ["--epochs", "1", "--set", "max_train_examples=2048", "--set", "max_test_examples=1024"]


def test_sigkill_while_recording_keeps_the_card_it_would_replace(tmp_path, monkeypatch, capsys):

    cards_dir = tmp_path / "cards"
    monkeypatch.setenv("KDL_CARDS_DIR", str(cards_dir))
    args = ["train", "mlp_fashion_mnist", *TINY, "--record", "--export-dir", str(tmp_path / "e")]
    in_process([*args, "--workdir", str(tmp_path / "w0")], tmp_path, monkeypatch, capsys)
    card = cards_dir / "mlp_fashion_mnist.json"
    first = card.read_bytes()
    assert killed_at([*args, "--workdir", str(tmp_path / "w1")], tmp_path,
                     "mlp_fashion_mnist.json:1", KDL_CARDS_DIR=str(cards_dir)) == -signal.SIGKILL
    assert card.read_bytes() == first  # the measured card, untouched
    assert glob.glob(str(cards_dir / "*.json")) == [str(card)]  # the temporary: hidden
    assert (cards_dir / json.loads(first)["weights"]["file"]).is_file()  # and the weights it names
    in_process([*args, "--workdir", str(tmp_path / "w2")], tmp_path, monkeypatch, capsys)
    now = json.loads(card.read_text())
    assert now["history"][-1] == json.loads(first)
    # The dead temporary, the killed record's weights and the replaced card's: gone.
    assert sorted(os.listdir(cards_dir)) == sorted(["mlp_fashion_mnist.json", now["weights"]["file"]])


@pytest.mark.parametrize("nth", [2, *range(3, 3 + EXTRA_KILLS)])
def test_sigkill_during_report_then_report_again(tmp_path, monkeypatch, capsys, nth):
    work = tmp_path / "w"
    in_process(["train", "lenet5_fashion_mnist", "--smoke", "--no-report", "--workdir",
                str(work), "--export-dir", str(tmp_path / "exp")], tmp_path, monkeypatch, capsys)
    status = killed_at(["report", str(work)], tmp_path, f"{os.sep}report{os.sep}:{nth}")
    assert status == -signal.SIGKILL or nth > 2
    check_whole(str(work / "report"))
    in_process(["report", str(work)], tmp_path, monkeypatch, capsys)
    check_whole(str(work / "report"))
    page = (work / "report" / "index.html").read_text()
    assert all(f"src='{n}'" in page for n in os.listdir(work / "report") if n.endswith(".png"))


def test_sigkill_during_experiment_record_keeps_the_recorded_json(tmp_path, monkeypatch, capsys):
    import dataclasses

    from kdl import experiments

    name = "gradient_check"
    experiment = experiments.get_experiment(name)  # full settings = smoke ones, for seconds
    monkeypatch.setitem(experiments._EXPERIMENTS, name,
                        dataclasses.replace(experiment, settings=experiment.smoke))
    args = ["experiment", name, "--record"]
    in_process(args, tmp_path, monkeypatch, capsys)
    record = tmp_path / "docs" / "experiments" / f"{name}.json"
    before = record.read_bytes()
    assert killed_at(args, tmp_path, f"{name}.json:1",
                     KDL_EXPERIMENT_SMOKE=name) == -signal.SIGKILL
    assert record.read_bytes() == before
    check_whole(str(tmp_path / "docs"))
    in_process(args, tmp_path, monkeypatch, capsys)
    check_whole(str(tmp_path / "docs"))


TUNE = ["tune", "mlp_fashion_mnist", "--tuner", "random", "--max-trials", "3", "--epochs", "1",
        "--set", "max_train_examples=2048", "--set", "max_test_examples=512"]


# Each trial publishes its trial.json three times and oracle.json three times (begin, end,
# after end); oracle.json:6 is the instant after trial 1 ended, with the oracle on disk
# still calling it ongoing (kdl/_keras_compat.py, patch 7).
@pytest.mark.parametrize("point", ["trial.json:2", "oracle.json:6",
                                   *[f"{os.sep}trial_:{n}" for n in range(4, 4 + EXTRA_KILLS)]])
def test_sigkill_during_tune_then_the_same_command_finishes_the_search(tmp_path, monkeypatch,
                                                                        capsys, point):
    from kdl.tuning import trials_run

    args = [*TUNE, "--workdir", str(tmp_path / "w")]
    assert killed_at(args, tmp_path, point) == -signal.SIGKILL
    check_whole(str(tmp_path / "w"))
    started = trials_run(str(tmp_path / "w"), "mlp_fashion_mnist")
    oracle = tmp_path / "w" / "mlp_fashion_mnist" / "oracle.json"
    ended = set(json.loads(oracle.read_text())["end_order"]) if oracle.exists() else set()
    out = in_process(args, tmp_path, monkeypatch, capsys)
    assert len(out["trials"]) == 3 and all(t["status"] == "COMPLETED" for t in out["trials"])
    check_whole(str(tmp_path / "w"))
    rerun = [trial for _, trial in trials_run(str(tmp_path / "w"), "mlp_fashion_mnist")]
    # A trial the oracle had recorded as ended is never redone; the one the kill
    # interrupted (even between its trial.json and the oracle's) runs once more.
    assert not ended & set(rerun[len(started):]), (started, rerun, ended)
    assert len(rerun) <= 3 + 1


def test_sigkill_inside_a_trial_retries_that_trial_only(tmp_path, monkeypatch, capsys):
    from kdl.tuning import trials_run

    args = [*TUNE, "--workdir", str(tmp_path / "w")]
    proc = subprocess.Popen([sys.executable, "-m", "kdl.cli", *args], cwd=tmp_path, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(trials_run(str(tmp_path / "w"),
                                                    "mlp_fashion_mnist")) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    started = [t for _, t in trials_run(str(tmp_path / "w"), "mlp_fashion_mnist")]
    assert len(started) == 2, started
    out = in_process(args, tmp_path, monkeypatch, capsys)
    assert len(out["trials"]) == 3
    rerun = [t for _, t in trials_run(str(tmp_path / "w"), "mlp_fashion_mnist")]
    assert rerun[:2] == started and rerun[2] == started[1]  # the killed trial, retried
    assert len(rerun) == 4
