"""kdl's error types for what a user gave it: a recipe field, an option, a path, data.

Each is also the built-in type a caller would expect (``ValueError``, ``OSError``), so
``except ValueError`` still catches a bad recipe; :class:`KdlError` is what the CLI turns
into one line on stderr and exit status 2. Anything else raised is a bug. Each message
names the field and ends with ``Received: ...``.
"""

from __future__ import annotations


class KdlError(Exception):
    """Bad input to kdl (not a bug): one line for the user, exit status 2 from the CLI."""


class ConfigError(KdlError, ValueError):
    """A recipe field, an override or an option that kdl cannot run."""


class DataError(KdlError, ValueError):
    """Data that is there but unusable: truncated, corrupt, of the wrong shape or labels."""


class PathError(KdlError, OSError):
    """A path kdl cannot use: a workdir or export directory that cannot be created or written."""


class KdlWarning(UserWarning):
    """Something kdl can work with after a change it says (the CLI prints one line)."""


class DataWarning(KdlWarning):
    """Data that kdl uses after converting it (mixed sizes, mixed colour modes)."""
