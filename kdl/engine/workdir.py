"""One run per workdir: an advisory lock held for the life of the process.

``lock_workdir(workdir)`` takes ``workdir/.kdl.lock`` with ``fcntl.flock`` and writes
the holder's pid and command into it. A second process asking for the same workdir
gets :class:`WorkdirInUseError` naming the holder. The kernel releases a flock when its
process ends, however it ends (SIGKILL included), so a lock file left by a dead
process is simply taken over; its pid is reported only while its holder lives.

Under MultiWorkerMirroredStrategy each worker holds its own lock (``.kdl-worker1.lock``
...), so workers that share a workdir do not block one another.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from kdl._files import write_json
from kdl.errors import KdlError, PathError

_HELD: dict[str, int] = {}  # lock path -> open file descriptor, for this process


class WorkdirInUseError(KdlError, RuntimeError):
    """Another live process holds the workdir."""


def _lock_name() -> str:
    from kdl.engine.distribute import parse_tf_config

    try:
        config = parse_tf_config()
    except ValueError:
        config = None
    if not config:
        return ".kdl.lock"
    task = config["task"]
    if task["type"] == "chief" or (task["type"] == "worker" and task["index"] == 0):
        return ".kdl.lock"
    return f".kdl-{task['type']}{task['index']}.lock"


def _holder(path: str) -> str:
    try:
        with open(path) as f:
            info = json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return "another process"
    command = info.get("command")
    return f"process {info.get('pid', '?')}" + (f" ({command})" if command else "")


def check_writable_dir(path: str, field: str) -> None:
    """Raise :class:`kdl.errors.PathError` (one line, naming ``field``) unless ``path`` is a
    directory this process can write into, or one it can create; creates nothing."""
    target = os.path.abspath(path)
    existing = target
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if existing == target and not os.path.isdir(target):
        raise PathError(f"{field} {path} exists and is not a directory. Received: {field}={path!r}")
    if existing != target and not os.path.isdir(existing):
        raise PathError(f"{field} {path} cannot be created: {existing} is not a directory. "
                        f"Received: {field}={path!r}")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "cannot be written" if existing == target else f"cannot be created in {existing}"
        raise PathError(f"{field} {path} {what} (no write permission or a read-only file "
                        f"system). Received: {field}={path!r}")


def lock_workdir(workdir: str) -> str:
    """Hold ``workdir`` for this process; returns the lock file's path.

    Raises :class:`WorkdirInUseError` when another live process holds it. Taking a lock
    this process already holds is a no-op.
    """
    os.makedirs(workdir, exist_ok=True)
    path = os.path.abspath(os.path.join(workdir, _lock_name()))
    if path in _HELD:
        return path
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise WorkdirInUseError(
            f"{workdir} is in use by {_holder(path)}: wait for it to finish, or use another "
            f"--workdir. Received: --workdir={workdir!r}") from None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(),
                             "command": " ".join(os.path.basename(a) if i == 0 else a
                                                 for i, a in enumerate(sys.argv))}).encode())
    os.fsync(fd)
    _HELD[path] = fd
    return path


def unlock_workdir(workdir: str) -> None:
    """Release this process's lock on ``workdir`` (the file stays; it holds no state)."""
    path = os.path.abspath(os.path.join(workdir, _lock_name()))
    fd = _HELD.pop(path, None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class WorkdirMismatchError(KdlError, ValueError):
    """The workdir holds a backup of a run with another configuration."""


def check_resumable(recipe, workdir: str) -> bool:
    """True when ``workdir`` has a backup to resume from, of this very configuration.

    The run's configuration is kept in ``workdir/recipe.json``; resuming from a backup of
    another configuration would fail deep inside Keras (weights of other shapes) or,
    worse, silently continue a different run.
    """
    path = os.path.join(workdir, "recipe.json")
    config = json.loads(json.dumps(recipe.to_dict(), default=str))
    resuming = any(os.path.isdir(os.path.join(workdir, b)) for b in ("backup", "backup_frozen"))
    if resuming and os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        differs = sorted(k for k in set(config) | set(saved) if config.get(k) != saved.get(k))
        if differs:
            raise WorkdirMismatchError(
                f"{workdir} holds an interrupted run of another configuration (it differs in "
                f"{', '.join(differs)}): resume it with the same settings, or use another "
                f"--workdir. Received: " + ", ".join(f"{k}={config.get(k)!r}" for k in differs))
    write_json(path, config)
    return resuming
