"""Recipes outside the package: `kdl train ./my_recipe.py`, `kdl train --from BASE --name
NEW` writing a file that reruns, cards of a user's recipes beside them, and bad recipe
files refused in one line."""

from __future__ import annotations

import json

import pytest

MY_RECIPE = '''
from kdl.recipes import Recipe

RECIPE = Recipe(name="my_mlp", model="mlp", model_args={"hidden_units": (32,)}, epochs=1,
                max_train_examples=1024, max_test_examples=512, target=0.5)
'''


def _main(args, capsys):
    from kdl.cli import main

    code = main(args)
    return code, capsys.readouterr()


def test_a_recipe_file_runs_and_its_card_goes_beside_it(tmp_path, capsys, monkeypatch,
                                                        fashion_mnist):
    monkeypatch.delenv("KDL_CARDS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    path = tmp_path / "mine" / "my_recipe.py"
    path.write_text(MY_RECIPE)
    code, out = _main(["train", str(path), "--record", "--no-report", "--quiet",
                       "--workdir", str(tmp_path / "w"), "--no-export"], capsys)
    assert code == 0, out.err
    card = json.loads((tmp_path / "mine" / "cards" / "my_mlp.json").read_text())
    import hashlib

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert card["config"]["origin"] == f"file:{path} sha256:{digest}"
    assert card["weights"]["file"].startswith("my_mlp-")  # a small model: its weights too
    assert (tmp_path / "mine" / "cards" / card["weights"]["file"]).is_file()


def test_from_base_with_a_new_name_writes_a_recipe_file_that_runs_again(tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = _main(["train", "--from", "mlp_fashion_mnist", "--name", "wide_mlp", "--smoke",
                       "--set", "model_args.hidden_units=(64,)", "--no-report", "--no-export",
                       "--quiet", "--workdir", str(tmp_path / "w")], capsys)
    assert code == 0, out.err
    written = tmp_path / "w" / "wide_mlp.py"
    assert f"recipe file: {written}" in out.out
    from kdl.recipes import load_recipe_file

    recipe = load_recipe_file(str(written))
    assert recipe.name == "wide_mlp" and recipe.model_args["hidden_units"] == (64,)
    first = json.loads((tmp_path / "w" / "result.json").read_text())["config"]
    assert first["origin"] == "from:mlp_fashion_mnist"
    code, out = _main(["train", str(written), "--no-report", "--no-export", "--quiet",
                       "--workdir", str(tmp_path / "again")], capsys)
    assert code == 0, out.err
    again = json.loads((tmp_path / "again" / "result.json").read_text())["config"]
    assert {k: v for k, v in again.items() if k != "origin"} == \
        {k: v for k, v in first.items() if k != "origin"}


@pytest.mark.parametrize("text, args, fragment", [
    ("RECIPE = 3\n", [], "must define RECIPE = kdl.recipes.Recipe"),
    ("import nonexistent_module_xyz\n", [], "failed to run: ModuleNotFoundError"),
    ("from kdl.recipes import get_recipe\nRECIPE = get_recipe('mlp_fashion_mnist')\n", [],
     "the name of one of kdl's own"),
    (None, ["mlp_fashion_mnist", "--name", "x"], "--name makes a new recipe from --from BASE"),
    (None, [], "Name a recipe"),
    (None, ["--from", "mlp_fashion_mnist", "--name", "mlp_fashion_mnist"], "not one of kdl's own"),
    (None, ["--from", "mlp_fashion_mnist", "--name", "a b"], "--name must be"),
])
def test_bad_recipe_files_and_names_are_one_line(text, args, fragment, tmp_path, capsys):
    recipe = []
    if text is not None:
        (tmp_path / "r.py").write_text(text)
        recipe = [str(tmp_path / "r.py")]
    code, out = _main(["train", *recipe, *args, "--smoke", "--workdir", str(tmp_path / "w")],
                      capsys)
    lines = out.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and fragment in lines[0], out.err
    assert not (tmp_path / "w").exists()
