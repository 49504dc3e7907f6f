"""KerasTuner searches over every recipe, local or distributed.

:class:`RecipeHyperModel` is a ``keras_tuner.HyperModel``: the recipe (structure) in
``__init__``, the search space in ``build(hp)``: learning rate (log scale), optimizer
among the course's, width and depth where the model has them, dropout, weight decay,
batch norm on or off, augmentation strengths. Every default is the recipe's own value,
so the untuned recipe is one point of its space. Augmentation lives in the tf.data
pipeline, so ``fit(hp, model)`` rebuilds the pipeline from the trial's values.

:func:`search` (what ``kdl tune RECIPE --tuner random|bayesian|hyperband|grid
--max-trials N`` calls) runs the search in ``--workdir`` with ``overwrite=False``: the
same command again continues it.
``--chief`` / ``--worker ID`` use KerasTuner's own distributed mode (its
``KERASTUNER_*`` variables; the oracle listens on 127.0.0.1 unless told otherwise).
"""

from __future__ import annotations

import inspect
import json
import os
import socket
import time

import keras
import keras_tuner

from kdl._keras_compat import patch_keras_tuner_save_json, patch_oracle_reload
from kdl._names import unknown_name_message
from kdl.engine.loop import build_model, compile_model, prepare_data, train_and_evaluate
from kdl.models._registry import get_model_builder
from kdl.optimizers import OPTIMIZERS
from kdl.recipes import Recipe, metric_mode
from kdl.tasks import get_task

TUNERS = {
    "random": keras_tuner.RandomSearch,
    "bayesian": keras_tuner.BayesianOptimization,
    "hyperband": keras_tuner.Hyperband,
    "grid": keras_tuner.GridSearch,
}
WEIGHT_DECAYS = [0.0, 1e-5, 1e-4, 5e-4, 1e-3]


def _builder_params(model_name: str) -> set[str]:
    return set(inspect.signature(get_model_builder(model_name)).parameters)


def _builder_default(model_name: str, param: str):
    return inspect.signature(get_model_builder(model_name)).parameters[param].default


class RecipeHyperModel(keras_tuner.HyperModel):
    """A recipe's search space; ``recipe_for(hp)`` is the recipe a trial trains."""

    def __init__(self, recipe: Recipe, data=None, epochs: int | None = None):
        if recipe.unfreeze_epoch is not None:
            from kdl.errors import ConfigError

            raise ConfigError(f"kdl tune trains each trial in one phase (init_from and freeze "
                              f"apply to the whole trial); unfreeze_epoch is kdl train's. "
                              f"Received: unfreeze_epoch={recipe.unfreeze_epoch!r}")
        super().__init__(name=recipe.name, tunable=True)
        self.recipe = recipe
        self.data = data
        self.epochs = epochs or recipe.epochs
        self.params = _builder_params(recipe.model)

    def _default(self, key):
        if key in self.recipe.model_args:
            return self.recipe.model_args[key]
        return _builder_default(self.recipe.model, key)

    def recipe_for(self, hp: keras_tuner.HyperParameters) -> Recipe:
        r = self.recipe
        lr = r.learning_rate
        changes = {
            "learning_rate": hp.Float("learning_rate", lr / 10, lr * 10, sampling="log",
                                      default=lr),
            "optimizer": hp.Choice("optimizer", sorted(OPTIMIZERS), default=r.optimizer),
            "weight_decay": hp.Choice("weight_decay",
                                      sorted(set(WEIGHT_DECAYS) | {r.weight_decay}),
                                      default=r.weight_decay),
            "epochs": self.epochs,
        }
        args = dict(r.model_args)
        if "width_multiplier" in self.params:
            default = float(self._default("width_multiplier"))
            args["width_multiplier"] = hp.Choice(
                "width_multiplier", sorted({0.5, 1.0, 2.0, default}), default=default)
        if "hidden_units" in self.params and get_task(r.task).tunes_hidden_units():
            units = tuple(self._default("hidden_units"))
            depth = hp.Int("depth", 1, max(4, len(units)), default=len(units))
            width = hp.Choice("width_multiplier", [0.5, 1.0, 2.0], default=1.0)
            base = [units[min(i, len(units) - 1)] for i in range(depth)]
            args["hidden_units"] = tuple(max(1, int(u * width)) for u in base)
        if "dropout" in self.params:
            d = float(self._default("dropout") or 0.0)
            args["dropout"] = hp.Float("dropout", 0.0, 0.6, step=0.1, default=round(d, 1))
        if "batch_norm" in self.params:
            args["batch_norm"] = hp.Boolean("batch_norm",
                                            default=bool(self._default("batch_norm")))
        changes["model_args"] = args
        aug = dict(r.augmentation)
        if "crop" in aug and isinstance(aug["crop"], int):
            aug["crop"] = hp.Int("aug_crop", 0, 4, default=aug["crop"])
        if "elastic" in aug:
            e = dict(aug["elastic"]) if isinstance(aug["elastic"], dict) else {"alpha": aug["elastic"]}
            e["alpha"] = hp.Float("aug_elastic_alpha", 0.0, 40.0, step=5.0,
                                  default=float(e.get("alpha", 10.0)))
            aug["elastic"] = e
        if "erasing" in aug and not isinstance(aug["erasing"], dict):
            aug["erasing"] = hp.Float("aug_erasing", 0.0, 1.0, step=0.25,
                                      default=float(aug["erasing"]))
        if "flip" in aug:
            if not hp.Boolean("aug_flip", default=True):
                aug.pop("flip")
        changes["augmentation"] = aug
        return r.replace(**changes)

    def build(self, hp):
        recipe = self.recipe_for(hp)
        model = build_model(recipe, self.data)
        if recipe.init_from is not None:  # every trial starts from the same weights
            from kdl.engine.finetune import frozen_layers, initialize_from, set_frozen

            parent, _ = initialize_from(model, recipe, self.data.class_names)
            set_frozen(frozen_layers(model, recipe, parent["new"]), True)
        compile_model(model, recipe, self.data.steps_per_epoch)
        return model

    def fit(self, hp, model, *args, **kwargs):
        recipe = self.recipe_for(hp)
        data = prepare_data(recipe) if recipe.augmentation != self.recipe.augmentation \
            else self.data
        kwargs.setdefault("epochs", recipe.epochs)
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []),
                               *trial_progress(kwargs["epochs"], recipe.batch_size)]
        return model.fit(data.train, *args, validation_data=data.validation, verbose=0,
                         shuffle=False, **kwargs)


def trial_progress(epochs: int, batch_size: int, live: bool | None = None) -> list:
    """On a terminal (``live`` None: when stdout is one), a trial's live progress line
    within each epoch and its epoch lines (:class:`kdl.callbacks.LiveEpochProgress`); off a
    terminal nothing, so a search's log keeps its one line per trial."""
    import sys

    from kdl.callbacks import LiveEpochProgress

    if not (sys.stdout.isatty() if live is None else live):
        return []
    return [LiveEpochProgress(epochs, prefix="trial: ", batch_size=batch_size)]


class _TrialLog:
    """Mixin: append "tuner_id trial_id" to trials_run.log as each trial begins, and say
    after each trial how many are done and when the search should end (ETA)."""

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_start = time.perf_counter()
        path = os.path.join(self.project_dir, "trials_run.log")
        with open(path, "a") as f:
            f.write(f"{self.tuner_id} {trial.trial_id}\n")

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        from kdl.callbacks import format_duration

        seconds = time.perf_counter() - getattr(self, "_trial_start", time.perf_counter())
        self._trial_seconds = [*getattr(self, "_trial_seconds", []), seconds]
        try:
            done, total = len(self.oracle.trials), getattr(self.oracle, "max_trials", None)
        except AttributeError:  # a distributed worker's oracle client knows neither
            done, total = len(self._trial_seconds), None
        eta = ""
        if total and done < total:
            mean = sum(self._trial_seconds) / len(self._trial_seconds)
            eta = f", ETA {format_duration((total - done) * mean)}"
        of = f" of {total}" if total else ""
        print(f"kdl tune: trial {trial.trial_id} done in {format_duration(seconds)} "
              f"({done}{of} trials{eta})", flush=True)


def make_tuner(kind: str, hypermodel: RecipeHyperModel, *, objective: str, max_trials: int,
               directory: str, seed: int = 0):
    if kind not in TUNERS:
        raise ValueError(unknown_name_message("tuner", kind, TUNERS))
    direction = metric_mode(objective)
    patch_keras_tuner_save_json()  # a search killed at any point still reloads,
    patch_oracle_reload()  # and does not run its finished trials again
    cls = type(f"Kdl{TUNERS[kind].__name__}", (_TrialLog, TUNERS[kind]), {})
    kwargs = dict(hypermodel=hypermodel, objective=keras_tuner.Objective(objective, direction),
                  directory=directory, project_name=hypermodel.recipe.name, overwrite=False,
                  seed=seed)
    if kind == "hyperband":
        kwargs["max_epochs"] = hypermodel.epochs
        kwargs["max_consecutive_failed_trials"] = 3
    else:
        kwargs["max_trials"] = max_trials
    return cls(**kwargs)


def trial_table(tuner, limit: int = 50) -> list[dict]:
    rows = []
    for rank, trial in enumerate(tuner.oracle.get_best_trials(num_trials=limit), start=1):
        rows.append({"rank": rank, "trial_id": trial.trial_id, "score": trial.score,
                     "status": trial.status, "hyperparameters": trial.hyperparameters.values})
    return rows


def port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


def wait_for_chief(address: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=2):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def set_distributed_tuning(address: str, port: int, tuner_id: str) -> None:
    """KerasTuner's distributed mode reads these variables: the oracle's address, this tuner."""
    os.environ["KERASTUNER_ORACLE_IP"] = address
    os.environ["KERASTUNER_ORACLE_PORT"] = str(port)
    os.environ["KERASTUNER_TUNER_ID"] = tuner_id


def search(recipe: Recipe, kind: str, *, objective: str, max_trials: int, directory: str,
           chief: bool = False):
    """Run (or continue) a search over ``recipe``'s space; returns (tuner, hypermodel).

    The chief of a distributed search only serves the oracle: it needs the space, not
    the data, so it builds its pipelines on 256 examples.
    """
    data = prepare_data(recipe.replace(max_train_examples=256, max_test_examples=256)
                        if chief else recipe)
    hypermodel = RecipeHyperModel(recipe, data, recipe.epochs)
    tuner = make_tuner(kind, hypermodel, objective=objective, max_trials=max_trials,
                       directory=directory, seed=recipe.seed)
    keras.utils.set_random_seed(recipe.seed)
    tuner.search()
    return tuner, hypermodel


def retrain_best(tuner, hypermodel: RecipeHyperModel, workdir: str, export_dir: str) -> str:
    """Train the best trial's recipe in full in ``workdir`` and export it; returns the
    export version's path."""
    from kdl.export import export_run

    best = hypermodel.recipe_for(tuner.oracle.get_best_trials(1)[0].hyperparameters)
    result = train_and_evaluate(best, workdir, verbose=0)
    return export_run(result.model, best, export_dir, result.summary(), result.data,
                      provenance=result.provenance)


def trials_run(workdir: str, recipe_name: str) -> list[tuple[str, str]]:
    """(tuner_id, trial_id) for every trial started, from trials_run.log."""
    path = os.path.join(workdir, recipe_name, "trials_run.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [tuple(line.split()) for line in f if line.strip()]


def completed_trials(workdir: str, recipe_name: str) -> list[dict]:
    out = []
    base = os.path.join(workdir, recipe_name)
    for d in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        p = os.path.join(base, d, "trial.json")
        if d.startswith("trial_") and os.path.exists(p):
            with open(p) as f:
                out.append(json.load(f))
    return out
