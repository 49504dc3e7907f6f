"""Where cards (and the weights they name) are kept, found without Keras.

The recipes' floor: :func:`kdl.models.get_model` finds ``weights="card:NAME"`` here, and
:mod:`kdl.cards` writes what this module finds. A card is the JSON that ``kdl train
RECIPE --record`` writes; the small carded models' weights ship beside it
(``NAME.weights.h5``, named in the card with its SHA-256).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os

from kdl.errors import ConfigError
from kdl.recipes import is_shipped, recipe_file_path


def shipped_cards_dir() -> str:
    """``recipes/cards/`` (``kdl/_recipes/cards`` once installed: the wheel ships them),
    found without importing the recipe files."""
    spec = importlib.util.find_spec("kdl._recipes")
    return os.path.join(list(spec.submodule_search_locations)[0], "cards")


def installed() -> bool:
    """True when kdl runs from an installed package (site-packages), not a checkout."""
    parts = os.path.abspath(shipped_cards_dir()).split(os.sep)
    return "site-packages" in parts or "dist-packages" in parts


def cards_dir(recipe=None) -> str:
    """Where ``--record`` writes: ``$KDL_CARDS_DIR``; else, for a user's recipe, ``cards/``
    beside its recipe file (or in the working directory: ``--from BASE --name NEW``); else,
    in a source checkout, the recipes' own ``recipes/cards/``; else (an installed package)
    ``./cards`` in the working directory. Never into site-packages."""
    if os.environ.get("KDL_CARDS_DIR"):
        return os.environ["KDL_CARDS_DIR"]
    if recipe is not None and not is_shipped(recipe.name):
        path = recipe_file_path(recipe)
        return os.path.join(os.path.dirname(path) if path else os.getcwd(), "cards")
    return os.path.join(os.getcwd(), "cards") if installed() else shipped_cards_dir()


def load_card(name: str, recipe=None) -> dict | None:
    """``name``'s card where ``--record`` writes (:func:`cards_dir`, for ``recipe`` where
    it is a user's); from an installed package without one there, the card the wheel ships."""
    path = card_path(name, recipe)
    if path is None:
        return None
    with open(path) as f:
        return json.load(f)


def _card_dirs(recipe=None) -> list[str]:
    dirs = [cards_dir(recipe)]
    if installed() and not os.environ.get("KDL_CARDS_DIR"):
        dirs.append(shipped_cards_dir())
    return dirs


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def card_weights(name: str) -> tuple[dict, dict, str]:
    """``(card, weights entry, path)`` of the weights card ``name`` names, their SHA-256
    checked; a :class:`kdl.errors.ConfigError` (one line) when there is no such card, it
    names no weights, or the file is missing or not the one the card names."""
    card = load_card(name)
    if card is None:
        raise ConfigError(f"No card named {name}: `kdl weights` lists the cards with weights. "
                          f"Received: card:{name}")
    entry = card.get("weights")
    if not entry:
        raise ConfigError(f"The card of {name} names no weights (only small models ship theirs; "
                          f"`kdl weights` lists them). Received: card:{name}")
    path = os.path.join(os.path.dirname(card_path(name)), entry["file"])
    if not os.path.isfile(path):
        raise ConfigError(f"The weights of card {name} are missing: no {path}. Received: card:{name}")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise ConfigError(f"The weights file {path} is not the one the card of {name} names "
                          f"(SHA-256 {digest[:12]}, card: {entry['sha256'][:12]}). "
                          f"Received: card:{name}")
    return card, entry, path


def card_path(name: str, recipe=None) -> str | None:
    """The path of ``name``'s card as :func:`load_card` finds it, or None."""
    for directory in _card_dirs(recipe):
        path = os.path.join(directory, f"{name}.json")
        if os.path.exists(path):
            return path
    return None


def cards_with_weights() -> list[tuple[str, dict]]:
    """``(name, weights entry)`` of every card that names shipped weights, sorted."""
    out, seen = [], set()
    for directory in _card_dirs():
        if not os.path.isdir(directory):
            continue
        for fname in sorted(os.listdir(directory)):
            name = fname.removesuffix(".json")
            if not fname.endswith(".json") or name in seen:
                continue
            card = load_card(name)
            if card and card.get("weights"):
                seen.add(name)
                out.append((name, card["weights"]))
    return sorted(out)
