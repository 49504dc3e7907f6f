"""The model registry: one name -> one builder, the only dispatch in kdl."""

from __future__ import annotations

import fnmatch
import functools
import inspect
from collections.abc import Callable

from kdl._names import unknown_name_message

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


def get_model_builder(name: str) -> Callable:
    if name not in _MODELS:
        raise ValueError(unknown_name_message("model", name, _MODELS))
    return _MODELS[name]


def get_model(name: str, **kwargs):
    """Build the registered model ``name`` with builder arguments ``kwargs``.

    ``weights="card:CARD"``: the model recipe card ``CARD`` measured, with the weights that
    ship with it (offline; their SHA-256 checked): raw pixels in [0, 255] in, its
    normalization inside, as trained (``kdl weights`` lists the cards that have them)."""
    weights = kwargs.get("weights")
    if isinstance(weights, str) and weights.startswith("card:"):
        get_model_builder(name)
        others = sorted(set(kwargs) - {"weights"})
        if others:
            from kdl.errors import ConfigError

            raise ConfigError(f"weights='card:...' builds the card's model as it was trained; "
                              f"other arguments would change it. Received: "
                              f"{', '.join(f'{k}={kwargs[k]!r}' for k in others)}")
        from kdl.models._weights import load_card_weights

        return load_card_weights(weights[len("card:"):], get_model_builder, model_name=name)
    return get_model_builder(name)(**kwargs)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching the fnmatch ``pattern``, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def register_variant(variant: str, generic: Callable, *args, doc: str) -> Callable:
    """Register ``generic`` with its architecture arguments ``args`` fixed as ``variant``
    (``resnet18``, ``vgg16``), showing its real signature: the remaining arguments, with
    ``name`` defaulting to the variant."""

    @functools.wraps(generic)
    def builder(**kwargs):
        kwargs.setdefault("name", variant)
        return generic(*args, **kwargs)

    builder.__name__ = builder.__qualname__ = variant
    builder.__doc__ = doc
    signature = inspect.signature(generic)
    params = [p.replace(default=variant) if p.name == "name" else p
              for p in list(signature.parameters.values())[len(args):]]
    builder.__signature__ = signature.replace(parameters=params)
    del builder.__wrapped__  # inspect and help() show the signature above, not generic's
    return register_model(variant)(builder)
