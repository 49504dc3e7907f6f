"""kdl: the classic deep-learning curriculum as Keras 3 recipes.

`import kdl` is light: it sets ``KERAS_BACKEND=tensorflow`` when unset and
imports TensorFlow/Keras only when a submodule that needs them is used.

    >>> import kdl
    >>> model = kdl.models.get_model("lenet5")
"""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_SUBMODULES = (
    "callbacks",
    "cards",
    "data",
    "engine",
    "experiments",
    "export",
    "layers",
    "losses",
    "models",
    "optimizers",
    "platform",
    "plots",
    "recipes",
    "report",
    "tasks",
    "tuning",
)


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"kdl.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'kdl' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
