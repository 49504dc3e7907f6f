"""Several seeds of one recipe: the loop over them (their combination and the check that
seeds run apart may join one card are in :mod:`kdl.engine.runs`)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from kdl.engine.loop import TrainResult, train_and_evaluate
from kdl.engine.resolve import resolve_for_strategy
from kdl.engine.runs import aggregate_runs, check_can_add_seeds
from kdl.platform import provenance
from kdl.recipes import Recipe


@dataclasses.dataclass
class SeedRuns:
    """What :func:`train_seeds` ran: each seed's summary (with its ``seed``), the first
    seed's result (its model is the one exported), and their combination."""

    runs: list[dict]
    first: TrainResult
    summary: dict


def train_seeds(recipe: Recipe, workdir: str, *, seeds: int = 1, per_seed_workdirs=None,
                strategy=None, verbose: int = 1,
                on_seed: Callable[[TrainResult, dict], None] | None = None) -> SeedRuns:
    """Train ``recipe`` with ``seeds`` seeds (its own seed and the next ones), each in
    ``workdir/seed<N>`` (or in ``workdir`` itself for one seed, unless
    ``per_seed_workdirs``); ``on_seed(result, summary)`` after each. Returns the runs,
    the first seed's result and, for several seeds, their mean and std."""
    seed_list = [recipe.seed + i for i in range(seeds)]
    separate = len(seed_list) > 1 if per_seed_workdirs is None else per_seed_workdirs
    runs, first = [], None
    for i, seed in enumerate(seed_list):
        prefix = f"seed {seed} ({i + 1}/{len(seed_list)}): " if separate else ""
        result = train_and_evaluate(recipe.replace(seed=seed),
                                    os.path.join(workdir, f"seed{seed}") if separate else workdir,
                                    strategy=strategy, verbose=verbose, progress_prefix=prefix)
        # One meaning of wall_s in result.json, the export's kdl.json and the card: the
        # run's own (set-up, training, evaluation), as TrainResult measured it.
        summary = {**result.summary(), "seed": seed}
        runs.append(summary)
        first = first or result
        if on_seed is not None:
            on_seed(result, summary)
    return SeedRuns(runs, first, dict(runs[0]) if len(runs) == 1 else aggregate_runs(runs))


def recipe_to_add_seeds(card: dict | None, recipe: Recipe, strategy=None,
                        data_fingerprint: dict | None = None) -> Recipe:
    """``recipe`` starting at the seed after its card's last, once the set-up it will run
    (recipe resolved for ``strategy``, backend, versions, machine, and the data of
    ``data_fingerprint``) is checked to be the card's: a mean over seeds of two set-ups
    would mean nothing. Raises ValueError."""
    check_can_add_seeds(card, recipe.name)
    recipe = recipe.replace(seed=max(s["seed"] for s in card["seeds"]) + 1)
    record = provenance(resolve_for_strategy(recipe, strategy))
    check_can_add_seeds(card, recipe.name, {**record, "data_fingerprint": data_fingerprint})
    return recipe
