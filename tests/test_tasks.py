"""The task registry: the only place that knows what a task does."""

import pathlib
import re

import pytest

from kdl.recipes import Recipe
from kdl.tasks import Task, get_task, list_tasks, register_task

KDL = pathlib.Path(__file__).resolve().parents[1] / "kdl"


def test_the_three_tasks_are_registered():
    assert {"classification", "autoencoder", "char_rnn"} <= set(list_tasks())
    assert get_task("classification").classifier and not get_task("autoencoder").classifier
    assert get_task("char_rnn").signatures == ("serving_default", "serving_ids")
    with pytest.raises(ValueError, match="Did you mean: classification"):
        get_task("clasification")


def test_no_module_branches_on_a_task_name():
    """Outside kdl/tasks/, code asks the task (its attributes), never compares its name:
    the library, its experiments and the benchmarks."""
    pattern = re.compile(r"""task\s*(==|!=)\s*["']|task\s+(not\s+)?in\s*\(|"""
                         r"""get_task\([^)]*\)\.name\s*(==|!=)""")
    root = KDL.parent
    paths = [p for p in [*KDL.rglob("*.py"), *(root / "benchmarks").rglob("*.py")]
             if "tasks" not in p.relative_to(root).parts]
    assert any("experiments" in p.parts for p in paths) and any("benchmarks" in p.parts
                                                                 for p in paths)
    offenders = [f"{path.relative_to(root)}:{n}" for path in paths
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []


def test_a_new_task_is_one_registered_class():
    @register_task
    class Regression(Task):
        name = "test_regression_task"

        def loss_and_metrics(self, recipe):
            return "mse", ["mae"]

    try:
        recipe = Recipe(name="r", model="mlp", task="test_regression_task")
        from kdl.engine.loop import loss_and_metrics

        assert loss_and_metrics(recipe) == ("mse", ["mae"])
        with pytest.raises(ValueError, match="already registered"):
            register_task(Regression)
    finally:
        from kdl.tasks import base

        base._TASKS.pop("test_regression_task")


@pytest.mark.parametrize("name", __import__("kdl.recipes", fromlist=["x"]).list_recipes())
def test_every_recipe_without_its_data_fails_in_one_line(name, monkeypatch, tmp_path):
    """Before anything is written: one sentence saying how to get the data."""
    from kdl.data import DataNotFoundError
    from kdl.data import sources
    from kdl.recipes import get_recipe
    from kdl.engine.resolve import check_data

    recipe = get_recipe(name)
    monkeypatch.setenv("KDL_OFFLINE", "1")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.delenv("KDL_DATA_DIR", raising=False)
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", str(tmp_path / "none"))
    if recipe.data.startswith("text:"):
        recipe = recipe.replace(data=f"text:{tmp_path / 'none'}")
    with pytest.raises(DataNotFoundError) as info:
        check_data(recipe)
    message = str(info.value)
    assert "\n" not in message.strip() and len(message) < 400, message
