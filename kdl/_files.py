"""Files that are whole or absent: every card, figure, JSON and page kdl writes goes
through here, so a process killed at any instant (kill -9, a lost terminal) leaves the
old file or the new one, never half of one.

The content is written to a hidden temporary file beside the target (same directory,
same file system, same extension, so writers that read the extension still work) and
renamed onto it with :func:`os.replace`, which POSIX makes atomic. A temporary file left
by a killed writer is removed by the next write of the same target. This guards against
a killed process, not a lost disk: the rename is not followed by an fsync of the
directory.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os

_PREFIX = ".kdl-tmp-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(directory: str, base: str) -> None:
    for tmp in glob.glob(os.path.join(glob.escape(directory), f"{_PREFIX}*-{glob.escape(base)}")):
        pid = os.path.basename(tmp)[len(_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(tmp)


@contextlib.contextmanager
def atomic_path(path: str):
    """Yield a temporary path beside ``path``; when the block ends without an error it is
    renamed onto ``path``, otherwise removed. For writers that take a path
    (``fig.savefig``, ``model.save``)."""
    directory, base = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    _remove_stale(directory, base)
    tmp = os.path.join(directory, f"{_PREFIX}{os.getpid()}-{base}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            with contextlib.suppress(OSError):
                os.remove(tmp)


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w"):
    """``open(path, mode)`` whose content replaces ``path`` only once it is complete."""
    with atomic_path(path) as tmp:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def write_json(path: str, obj, **kwargs) -> str:
    """``json.dump(obj)`` into ``path`` atomically (``indent=2`` unless told); returns it."""
    kwargs.setdefault("indent", 2)
    with atomic_open(path) as f:
        json.dump(obj, f, **kwargs)
    return path


def write_text(path: str, text: str) -> str:
    with atomic_open(path) as f:
        f.write(text)
    return path
