"""The model registry: one name -> one builder, the only dispatch in kdl."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable

_MODELS: dict[str, Callable] = {}


def register_model(name: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator registering a builder under ``name`` (default: its function name).

    A duplicate name is refused: two builders must never answer to one name.
    """

    def decorator(fn: Callable) -> Callable:
        key = name or fn.__name__
        if key in _MODELS:
            raise ValueError(
                f"A model named '{key}' is already registered. Received: name={key!r}"
            )
        _MODELS[key] = fn
        return fn

    return decorator


def close_matches(name: str, choices) -> list[str]:
    """Close matches for ``name``: difflib's, then those sharing its prefix."""
    choices = sorted(choices)
    found = difflib.get_close_matches(name, choices, n=4, cutoff=0.6)
    found += [c for c in choices if c.startswith(name) and c not in found]
    return found[:5]


def unknown_name_message(kind: str, name: str, choices) -> str:
    matches = close_matches(str(name), choices)
    hint = f" Did you mean: {', '.join(matches)}?" if matches else ""
    return f"Unknown {kind} '{name}'.{hint} Received: name={name!r}"


def get_model_builder(name: str) -> Callable:
    if name not in _MODELS:
        raise ValueError(unknown_name_message("model", name, _MODELS))
    return _MODELS[name]


def get_model(name: str, **kwargs):
    """Build the registered model ``name`` with builder arguments ``kwargs``."""
    return get_model_builder(name)(**kwargs)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching the fnmatch ``pattern``, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))
