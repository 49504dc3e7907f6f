"""Close-match suggestions for unknown names (no TensorFlow import: `kdl list` stays light)."""

from __future__ import annotations

import difflib


def close_matches(name: str, choices) -> list[str]:
    """Close matches for ``name``: difflib's, then those sharing its prefix."""
    choices = sorted(choices)
    found = difflib.get_close_matches(name, choices, n=4, cutoff=0.6)
    found += [c for c in choices if c.startswith(name) and c not in found]
    return found[:5]


def unknown_name_message(kind: str, name: str, choices, received: str = "name") -> str:
    """``received``: the argument or recipe field that held ``name`` (``task=...``)."""
    matches = close_matches(str(name), choices)
    hint = f" Did you mean: {', '.join(matches)}?" if matches else ""
    return f"Unknown {kind} '{name}'.{hint} Received: {received}={name!r}"
