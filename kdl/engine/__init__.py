"""The engine: a recipe resolved, trained over seeds, checked; the fifth floor.

    resolve     resolve_recipe, check_recipe, resolve_for_strategy, check_data
    loop        train_and_evaluate, TrainResult, prepare_data, build_model, compile_model
    seeds       train_seeds, recipe_to_add_seeds
    runs        aggregate_runs, check_can_add_seeds (no Keras)
    sanity      overfit_small_batch
    regularize  apply_regularizers, initialize_data_dependent
    pretrain    pretraining steps by kind
    distribute  tf.distribute strategies (and Keras' multi-worker fix)
    workdir     one run per workdir (lock), resumable only with the same configuration

Names load on first use, so ``import kdl.engine.workdir`` stays light.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "resolve_recipe": "resolve", "check_recipe": "resolve", "resolve_for_strategy": "resolve",
    "check_data": "resolve",
    "train_and_evaluate": "loop", "TrainResult": "loop", "prepare_data": "loop",
    "build_model": "loop", "compile_model": "loop", "loss_and_metrics": "loop",
    "train_seeds": "seeds", "SeedRuns": "seeds", "recipe_to_add_seeds": "seeds",
    "aggregate_runs": "runs", "check_can_add_seeds": "runs",
    "overfit_small_batch": "sanity",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(importlib.import_module(f"kdl.engine.{_HOMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kdl.engine' has no attribute {name!r}")
