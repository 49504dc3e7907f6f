"""Recipe cards: what a run records, and the table made from the records."""

import json
import os

import pytest

from kdl import card_store, cards
from kdl.recipes import get_recipe


@pytest.fixture
def card_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KDL_CARDS_DIR", str(tmp_path / "cards"))
    return tmp_path / "cards"


# A run of seconds that --record accepts (it refuses --smoke).
TINY = ["--epochs", "1", "--set", "max_train_examples=2048", "--set", "max_test_examples=1024"]


def _summary(accuracy, met):
    return {"recipe": "lenet5_fashion_mnist", "epochs_run": 7, "test_metrics": {"accuracy": accuracy},
            "wall_s": 90.0, "train_s": 80.0, "params": 61709, "target_metric": "accuracy",
            "target": 0.916, "target_met": met, "export_path": "/tmp/x/lenet5_fashion_mnist/3"}


def test_a_card_records_the_run_and_the_table_shows_it(card_dir, tmp_path):
    recipe = get_recipe("lenet5_fashion_mnist").replace(epochs=7)
    command = "kdl train lenet5_fashion_mnist --epochs 7 --record"
    path = cards.save_card(recipe, _summary(0.9012, False), command=command)
    card = json.loads(open(path).read())
    assert card["epochs_requested"] == 7 and card["test_metrics"]["accuracy"] == 0.9012
    assert "export_path" not in card  # the recording machine's path means nothing elsewhere
    assert card["n_seeds"] == 1 and card["test_metrics_std"] is None  # one seed: no spread
    table = cards.cards_table()
    row = next(line for line in table.splitlines() if line.startswith("| lenet5_fashion_mnist"))
    assert "accuracy 0.9012 (n=1) | 7 | 1.5 min" in row and "**not yet met**" in row
    assert "2 Conv+pooling 0.916" in row
    assert "`kdl train lenet5_fashion_mnist --epochs 7 --record`" in row
    assert "| vgg16_fashion_mnist | not yet run |" in table


def test_the_card_keeps_the_command_without_its_output_only_options():
    from kdl.cli.common import shown_command

    assert shown_command(["train", "r", "--workdir", "a", "--set", "lr=1", "--json",
                          "--export-dir=b", "--epochs", "3", "--quiet", "--no-export"]) \
        == "kdl train r --set lr=1 --epochs 3"


def test_seeds_are_recorded_and_the_target_is_judged_on_their_mean(card_dir):
    recipe = get_recipe("lenet5_fashion_mnist")
    runs = [{**_summary(a, a > 0.916), "seed": s, "epochs_run": e}
            for s, (a, e) in enumerate([(0.918, 30), (0.920, 30), (0.913, 25)])]
    card = json.loads(open(cards.save_card(recipe, runs, command="kdl train x --seeds 3")).read())
    assert [s["seed"] for s in card["seeds"]] == [0, 1, 2] and card["n_seeds"] == 3
    assert card["test_metrics"]["accuracy"] == pytest.approx(0.917)
    assert card["test_metrics_std"]["accuracy"] == pytest.approx(0.0036055, rel=1e-4)  # ddof=1
    assert card["target_met"] is True and card["target_met_every_seed"] is False
    row = next(line for line in cards.cards_table().splitlines()
               if line.startswith("| lenet5_fashion_mnist"))
    assert "accuracy 0.9170 ± 0.0036 (n=3) | 25-30 |" in row and "not every seed" in row
    low = [{**r, "test_metrics": {"accuracy": 0.910}} for r in runs]
    assert cards.aggregate_runs(low)["target_met"] is False  # the mean, not the best seed


def test_result_export_and_card_carry_one_provenance_record(card_dir, tmp_path):
    """result.json, the export's kdl.json and the card: the same record of what ran."""
    import os

    from kdl import cli
    from kdl.platform import provenance
    from tests.conftest import fashion_mnist_available

    if not fashion_mnist_available():
        pytest.skip("Fashion-MNIST files missing")
    # --smoke may not --record: the same shrinking, asked for field by field.
    assert cli.main(["train", "mlp_fashion_mnist", *TINY, "--record", "--no-report",
                     "--quiet", "--workdir", str(tmp_path / "w"),
                     "--export-dir", str(tmp_path / "e")]) == 0
    result = json.load(open(tmp_path / "w" / "result.json"))
    meta = json.load(open(tmp_path / "e" / "mlp_fashion_mnist" / "1" / "kdl.json"))
    card = json.load(open(card_dir / "mlp_fashion_mnist.json"))
    keys = set(provenance(get_recipe("mlp_fashion_mnist")))
    assert keys <= set(result)
    for other in (meta, card):
        assert {k: other[k] for k in keys} == {k: result[k] for k in keys}
    assert result["config"]["epochs"] == 1  # the smoke recipe, as it ran
    assert result["backend"] == "tensorflow" and result["machine"].endswith(
        f"{os.cpu_count()} cores")


def test_machine_line_tells_apart_two_cpus_sold_under_one_name(tmp_path):
    """Two of this project's machines report "Intel(R) Xeon(R) Processor"; one has AMX
    (bfloat16 trains faster there), the other not. The line says which."""
    from kdl.platform import cpu_info, machine_line, widest_isa

    block = ("processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: {model}\n"
             "model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx2 avx512f {extra}\n\n")
    lines = []
    for model, extra in ((143, "avx512_bf16 amx_bf16 amx_tile"), (207, "avx512_bf16")):
        path = tmp_path / f"cpuinfo{model}"
        # Two processors: only the first one's block is read.
        path.write_text(block.format(n=0, model=model, extra=extra)
                        + block.format(n=1, model=1, extra=""))
        info = cpu_info(str(path))
        assert info["cpu"] == "Intel(R) Xeon(R) Processor" and info["model"] == str(model)
        assert "avx512_bf16" in info["flags"] and ("amx_bf16" in info["flags"]) == (model == 143)
        hw = {"cpu": info["cpu"], "cpu_id": f"{info['family']}/{info['model']}", "cpu_count": 2,
              "isa": widest_isa(info["flags"])}
        lines.append(machine_line(hw))
    assert lines == ["Intel(R) Xeon(R) Processor (6/143, AMX), 2 cores",
                     "Intel(R) Xeon(R) Processor (6/207, AVX512-BF16), 2 cores"]
    assert cpu_info(str(tmp_path / "missing")) == {"flags": set()}
    assert machine_line({"cpu": "Intel(R) Xeon(R) Processor", "cpu_count": 2}) \
        == "Intel(R) Xeon(R) Processor, 2 cores"  # a record made before the parenthesis


@pytest.mark.slow
def test_add_seeds_extends_a_card_only_from_the_same_set_up(card_dir, tmp_path, capsys):
    """`--add-seeds N` trains the seeds after the card's last and recomputes its mean,
    spread and verdict over all of them; another configuration or machine, a card that
    keeps no configuration, or --seeds beside it are refused before anything trains, and
    the card stays as it was."""
    import numpy as np

    from kdl import cli
    from tests.conftest import fashion_mnist_available

    if not fashion_mnist_available():
        pytest.skip("Fashion-MNIST files missing")
    common = ["train", "mlp_fashion_mnist", *TINY, "--no-report", "--no-export", "--quiet"]
    path = card_dir / "mlp_fashion_mnist.json"
    assert cli.main([*common, "--record", "--workdir", str(tmp_path / "w0")]) == 0
    first = json.loads(path.read_text())
    capsys.readouterr()
    assert cli.main([*common, "--add-seeds", "2", "--workdir", str(tmp_path / "w1")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("card: accuracy ")
    card = json.loads(path.read_text())
    assert [s["seed"] for s in card["seeds"]] == [0, 1, 2] and card["n_seeds"] == 3
    assert card["seeds"][0] == first["seeds"][0]  # the recorded seed, kept as it was
    accs = [s["test_metrics"]["accuracy"] for s in card["seeds"]]
    assert card["test_metrics"]["accuracy"] == pytest.approx(np.mean(accs))
    assert card["test_metrics_std"]["accuracy"] == pytest.approx(np.std(accs, ddof=1))
    assert card["config"] == first["config"] and card["machine"] == first["machine"]
    # Kept as a reader would rerun it: without the output-only options.
    tiny = " ".join(TINY)
    assert card["command"] == f"{first['command']}; kdl train mlp_fashion_mnist {tiny} --add-seeds 2"
    assert (tmp_path / "w1" / "seed1" / "model.keras").exists()

    def refused(*args, card_text=None):
        if card_text is not None:
            path.write_text(card_text)
        before = path.read_text() if path.exists() else None
        capsys.readouterr()
        assert cli.main([*common, *args, "--workdir", str(tmp_path / "w2")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("kdl: error: "), err
        assert (path.read_text() if path.exists() else None) == before
        assert not (tmp_path / "w2").exists()
        return err[0]

    assert refused("--add-seeds", "1", "--set", "learning_rate=0.5").endswith(
        f"Received: learning_rate=0.5 (card: {card['config']['learning_rate']!r})")
    other = json.dumps({**card, "machine": "Other CPU, 2 cores"})
    assert refused("--add-seeds", "1", card_text=other).endswith(
        f"Received: machine {card['machine']!r} (card: 'Other CPU, 2 cores')")
    assert "--seeds starts anew" in refused("--add-seeds", "1", "--seeds", "2")
    old = json.dumps({k: v for k, v in card.items() if k != "config"})
    assert "keeps no configuration" in refused("--add-seeds", "1", card_text=old)
    path.unlink()
    assert refused("--add-seeds", "1") == ("kdl: error: mlp_fashion_mnist has no card to add "
                                           "seeds to; record one first (kdl train "
                                           "mlp_fashion_mnist --record). Received: --add-seeds")


def test_a_card_of_other_settings_than_its_recipe_says_which(card_dir, capsys):
    """A card recorded with other settings than the recipe has now (an older recipe, or a
    run with --set/--epochs) says which; seed, determinism, XLA and a precision the recipe
    leaves to the machine ("auto") are not settings; a card that kept none is marked."""
    from kdl.platform import provenance

    recipe = get_recipe("lenet5_fashion_mnist")
    same = recipe.replace(seed=4, deterministic=True, jit_compile=True)
    card = json.loads(open(cards.save_card(same, _summary(0.92, True),
                                           provenance=provenance(same))).read())
    assert cards.settings_changed(card, recipe) == []
    older = recipe.replace(epochs=7, model_args={"batch_norm": False})
    card = json.loads(open(cards.save_card(older, _summary(0.92, True),
                                           provenance=provenance(older))).read())
    assert cards.settings_changed(card, recipe) == ["epochs", "model_args"]
    row = next(line for line in cards.cards_table().splitlines()
               if line.startswith("| lenet5_fashion_mnist"))
    assert "| yes (recorded with other settings: epochs, model_args) |" in row
    from kdl import cli

    assert cli.main(["list", "lenet5_fashion_mnist", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert listed[0]["last_result"].endswith("met, other settings: epochs, model_args")
    resnet = get_recipe("resnet20_fashion_mnist")
    assert resnet.precision == "auto"
    resolved = {**provenance(resnet), "config": {**resnet.to_dict(), "precision": "float32"}}
    assert cards.settings_changed({"config": resolved["config"]}, resnet) == []
    # A field kdl added after the card was recorded is no change while the recipe keeps its
    # default (what the run did), and is one once the recipe sets it.
    before = {k: v for k, v in resolved["config"].items() if k not in ("freeze", "input_pipeline")}
    assert cards.settings_changed({"config": before}, resnet) == []
    assert cards.settings_changed({"config": before}, resnet.replace(freeze=2)) == ["freeze"]
    del card["config"]
    assert cards.settings_changed(card, recipe) is None
    cards._write_card("lenet5_fashion_mnist", card)
    row = next(line for line in cards.cards_table().splitlines()
               if line.startswith("| lenet5_fashion_mnist"))
    assert "(2026-" in row and ") † |" in row


def test_a_target_is_met_by_reaching_it_exactly_as_keras_counts():
    import numpy as np

    from kdl.engine.loop import target_met
    from kdl.recipes import judge, target_text

    exactly = float(np.float32(9000) / np.float32(10000))  # Keras' float32: 0.8999999762
    assert exactly < 0.9 and judge("accuracy", 0.9, exactly) is True
    assert judge("accuracy", 0.9, 0.8999) is False
    assert judge("loss", 0.02, 0.02) is True and judge("loss", 0.02, 0.0201) is False
    assert judge("accuracy", None, 0.9) is None and judge("accuracy", 0.9, None) is None
    recipe = get_recipe("lenet5_fashion_mnist").replace(target=0.9)
    assert target_met(recipe, {"accuracy": exactly}) is True
    assert target_met(recipe, {"loss": 0.1}) is None
    assert target_text("accuracy", 0.916) == "accuracy >= 0.916"
    assert target_text("loss", 0.02) == "loss <= 0.02"


def test_an_installed_package_writes_cards_to_the_working_directory(tmp_path, monkeypatch):
    """From site-packages, --record writes ./cards (or $KDL_CARDS_DIR), never the package;
    reading falls back to the card the wheel ships."""
    monkeypatch.setattr(card_store, "installed", lambda: True)
    monkeypatch.chdir(tmp_path)
    shipped = cards.load_card("mlp_fashion_mnist")
    assert shipped is not None  # the shipped card, read from the package
    recipe = get_recipe("mlp_fashion_mnist")
    path = cards.save_card(recipe, {**_summary(0.5, False), "recipe": recipe.name},
                           command="kdl train mlp_fashion_mnist --record")
    assert path == str(tmp_path / "cards" / "mlp_fashion_mnist.json")
    assert cards.load_card("mlp_fashion_mnist")["history"][-1] == \
        {k: v for k, v in shipped.items() if k != "history"}
    assert json.loads(open(os.path.join(cards.shipped_cards_dir(),
                                        "mlp_fashion_mnist.json")).read()) == shipped
    monkeypatch.setenv("KDL_CARDS_DIR", str(tmp_path / "elsewhere"))
    assert cards.cards_dir() == str(tmp_path / "elsewhere")
    assert cards.load_card("mlp_fashion_mnist") is None


@pytest.mark.slow
def test_the_wheel_installed_alone_is_a_full_install(tmp_path):
    """The wheel ships the cards and the weights they name. Installed into a fresh venv
    (its dependencies borrowed from this one's site-packages, kdl only from the wheel),
    `kdl list` shows measured results, `kdl weights` the shipped weights, and `kdl predict
    --card` classifies an image with no training, no export and no network."""
    import subprocess
    import sys
    import sysconfig
    import zipfile

    from tests.conftest import ROOT

    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                          str(tmp_path), str(ROOT)], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("kdl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"kdl/_recipes/cards/{n}" for n in os.listdir(cards.shipped_cards_dir())
               if n.endswith((".json", ".weights.h5"))}
    assert shipped and shipped <= names
    assert any(n.endswith(".weights.h5") for n in shipped)
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    # kdl's dependencies from this environment; not kdl itself (an editable install's
    # finder is a .pth file of this site-packages, which a path added this way never runs).
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                          "--target", str(site), str(wheel)], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KDL_CARDS_DIR")}
    where = subprocess.run([python, "-c", "import kdl; print(kdl.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, env=env)
    assert str(site) in where.stdout, where.stdout + where.stderr
    listed = subprocess.run([python, "-m", "kdl.cli", "list", "--json"], cwd=tmp_path,
                            capture_output=True, text=True, env=env, timeout=300)
    assert listed.returncode == 0, listed.stderr[-2000:]
    rows = {r["recipe"]: r for r in json.loads(listed.stdout)}
    assert rows["lenet5_fashion_mnist"]["last_result"].startswith("accuracy 0.9")
    weights = subprocess.run([python, "-m", "kdl.cli", "weights", "--json"], cwd=tmp_path,
                             capture_output=True, text=True, env=env, timeout=300)
    assert weights.returncode == 0, weights.stderr[-2000:]
    assert "lenet5_fashion_mnist" in {r["card"] for r in json.loads(weights.stdout)}
    from PIL import Image

    Image.new("L", (50, 40), 20).save(tmp_path / "photo.png")
    predicted = subprocess.run([python, "-m", "kdl.cli", "predict", "--card",
                                "lenet5_fashion_mnist", "photo.png", "--json"], cwd=tmp_path,
                               capture_output=True, text=True, env=env, timeout=300)
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert json.loads(predicted.stdout)["file"] == "photo.png"


def test_add_seeds_refuses_another_data_set_under_the_same_spec():
    from kdl.engine.runs import check_can_add_seeds

    config = get_recipe("lenet5_fashion_mnist").replace(data="folder:/photos").to_dict()
    card = {"config": config, "seeds": [{"seed": 0}], "backend": "tensorflow", "versions": {},
            "machine": "m", "data_fingerprint": {"digest": "a" * 64}}
    record = {"config": {**config, "seed": 1}, "backend": "tensorflow", "versions": {},
              "machine": "m", "data_fingerprint": {"digest": "a" * 64}}
    check_can_add_seeds(card, "lenet5_fashion_mnist", record)  # the same files: fine
    record["data_fingerprint"] = {"digest": "b" * 64}  # the folder's files changed
    with pytest.raises(ValueError, match="another data set"):
        check_can_add_seeds(card, "lenet5_fashion_mnist", record)
