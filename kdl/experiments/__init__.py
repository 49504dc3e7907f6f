"""The course's claims as experiments: a claim, its settings as data, the numbers a run
measured, a verdict computed from them, and a figure.

    kdl experiment list
    kdl experiment perceptron_xor [--smoke] [--seeds N] [--out DIR] [--json]

Each experiment is one module here, registered with :func:`register_experiment`: its
settings are a dict (with a ``smoke`` variant that runs in seconds), its function
returns the numbers and draws one figure, and its verdict function decides from the
numbers whether this run supports the claim (unit-tested on made-up numbers both ways).
:func:`run_experiment` writes ``OUT/NAME.png`` and ``OUT/NAME.json``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import os
import pkgutil
import time
from collections.abc import Callable

from kdl._files import write_json
from kdl._names import unknown_name_message
from kdl.platform import hardware, machine_line


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    claim: str
    run: Callable[[dict, list, str], dict]  # (settings, seeds, figure path) -> numbers
    verdict: Callable[[dict, dict], tuple[bool, str]]  # (numbers, settings) -> (supported, why)
    settings: dict
    smoke: dict
    seeds: int = 3  # a full run's default; a smoke run's is 1


_EXPERIMENTS: dict[str, Experiment] = {}
_LOADED = False


def register_experiment(name: str, *, claim: str, settings: dict, smoke: dict,
                        verdict: Callable[[dict, dict], tuple[bool, str]], seeds: int = 3):
    """Decorator: register ``fn(settings, seeds, figure_path) -> numbers`` as ``name``;
    ``seeds``: how many a full run takes unless told (at least 3: a verdict states the
    spread; a smoke run takes 1)."""

    def decorator(fn):
        if name in _EXPERIMENTS:
            raise ValueError(f"An experiment named '{name}' is already registered. "
                             f"Received: name={name!r}")
        _EXPERIMENTS[name] = Experiment(name, claim, fn, verdict, dict(settings),
                                        {**settings, **smoke}, seeds)
        return fn

    return decorator


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    package = importlib.import_module("kdl.experiments")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"kdl.experiments.{info.name}")
    _LOADED = True


def list_experiments(pattern: str = "*") -> list[str]:
    _load_all()
    return sorted(n for n in _EXPERIMENTS if fnmatch.fnmatchcase(n, pattern))


def get_experiment(name: str) -> Experiment:
    _load_all()
    if name not in _EXPERIMENTS:
        raise ValueError(unknown_name_message("experiment", name, _EXPERIMENTS))
    return _EXPERIMENTS[name]


def run_experiment(name: str, *, smoke: bool = False, seeds: int | None = None,
                   out: str = "experiments") -> dict:
    """Run ``name`` over ``seeds`` seeds (default: the experiment's, 1 for a smoke run);
    write ``out/NAME.png`` and ``out/NAME.json``; return the record."""
    experiment = get_experiment(name)
    if seeds is None:
        seeds = 1 if smoke else experiment.seeds
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds <= 0:
        raise ValueError(f"`seeds` must be a positive integer. Received: seeds={seeds!r}")
    settings = experiment.smoke if smoke else experiment.settings
    os.makedirs(out, exist_ok=True)
    figure = os.path.join(out, f"{name}.png")
    start = time.perf_counter()
    numbers = experiment.run(settings, list(range(seeds)), figure)
    supported, why = experiment.verdict(numbers, settings)
    record = {"experiment": name, "claim": experiment.claim, "smoke": smoke,
              "seeds": list(range(seeds)), "settings": settings, "numbers": numbers,
              "supported": bool(supported), "verdict": why, "figure": figure,
              "seconds": round(time.perf_counter() - start, 1),
              "machine": machine_line(hardware())}
    path = os.path.join(out, f"{name}.json")
    write_json(path, record, default=float)
    record["json"] = path
    return record


RECORD_DIR = os.path.join("docs", "experiments")
