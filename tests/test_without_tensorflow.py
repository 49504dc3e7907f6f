"""`kdl train` on JAX and PyTorch where TensorFlow is not installed: its import refused
(tests/_kill_at.py, KDL_REFUSE_IMPORT), Keras' PyDataset feeds (kdl.data.feed), the run
trains, evaluates, reports and keeps its .keras model; a SavedModel is written later by
`kdl export` where TensorFlow is. (The kill-and-resume test is in tests/test_faults.py.)"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, fashion_mnist_available

KILLER = str(ROOT / "tests" / "_kill_at.py")
BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(
    importlib.util.find_spec(name) is None, reason=f"{name} not installed"))
    for name in ("jax", "torch")]
pytestmark = pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST missing")


def kdl(*args, cwd, without_tensorflow=True):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    env.pop("KERAS_BACKEND", None)
    runner = [KILLER] if without_tensorflow else ["-m", "kdl.cli"]
    if without_tensorflow:
        env["KDL_REFUSE_IMPORT"] = "tensorflow,tensorflow_datasets"
    return subprocess.run([sys.executable, *runner, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_train_without_tensorflow_then_export_where_it_is(backend, tmp_path):
    workdir = tmp_path / "w"
    out = kdl("train", "lenet5_fashion_mnist", "--smoke", "--backend", backend, "--json",
              "--workdir", str(workdir), "--export-dir", str(tmp_path / "e"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["test_metrics"]["accuracy"] > 0.15 and summary["export_path"] is None
    # One line says why there is no SavedModel and where the model is; nothing else.
    assert out.stderr.strip().splitlines() == [
        f"kdl: no SavedModel: it needs TensorFlow, not installed here; the model is "
        f"{workdir / 'model.keras'} (`kdl export` writes it where TensorFlow is)"]
    ran = json.loads((workdir / "recipe.json").read_text())
    assert ran["input_pipeline"] == "pydataset"
    result = json.loads((workdir / "result.json").read_text())
    assert result["backend"] == backend and result["versions"]["tensorflow"] is None
    assert (workdir / "report" / "index.html").exists()
    assert not (workdir / "tensorboard").exists() and not (tmp_path / "e").exists()
    history = (workdir / "history.csv").read_text().splitlines()
    assert "act/" in history[0]  # the activation monitor's statistics, TensorBoard or not
    if backend != "jax":
        return
    # Where TensorFlow is, the run's model becomes a SavedModel with the serving signatures.
    export = kdl("export", "lenet5_fashion_mnist", "--workdir", str(workdir), "--export-dir",
                 str(tmp_path / "e"), "--json", "--smoke", cwd=tmp_path, without_tensorflow=False)
    assert export.returncode == 0, export.stderr[-3000:]
    version = json.loads(export.stdout.strip().splitlines()[-1])["export_path"]
    meta = json.loads(open(os.path.join(version, "kdl.json")).read())
    assert set(meta["signatures"]) == {"serving_default", "serving_float", "serving_bytes"}
    assert os.path.exists(os.path.join(version, "saved_model.pb"))


def test_what_needs_tensorflow_is_refused_in_one_line_before_anything_is_written(tmp_path):
    out = kdl("train", "mlp_fashion_mnist", "--smoke", "--workdir", str(tmp_path / "w"),
              cwd=tmp_path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "TensorFlow is not installed here" in out.stderr
    assert "Received: KERAS_BACKEND=tensorflow" in out.stderr
    (tmp_path / "photos" / "a").mkdir(parents=True)
    for args, expected in (
            (["--data", f"folder:{tmp_path / 'photos'}"], "write them as an npz"),
            (["--set", "input_pipeline=tf.data"], "input_pipeline 'tf.data' needs TensorFlow")):
        out = kdl("train", "mlp_fashion_mnist", "--smoke", "--backend", "jax", "--workdir",
                  str(tmp_path / "w"), *args, cwd=tmp_path)
        assert out.returncode == 2, out.stderr[-2000:]
        assert len(out.stderr.strip().splitlines()) == 1 and expected in out.stderr, out.stderr
    assert not (tmp_path / "w").exists()
