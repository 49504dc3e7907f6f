"""Where a result comes from: one record, made once per run, read by everything that
reports the run.

``kdl train`` makes it when the recipe is resolved (before anything is written) and
keeps it in ``TrainResult.provenance``; ``result.json``, the export's ``kdl.json`` and
the recipe card all carry this same record, so the three can never disagree on what ran
(the recipe as it ran, the Keras backend, the versions, the machine).
"""

from __future__ import annotations

import os
import platform
import time
from importlib.metadata import PackageNotFoundError, version


def hardware() -> dict:
    """The machine: architecture, CPU model, core count and GPUs (best effort)."""
    info = {"machine": platform.machine(), "processor": platform.processor() or None,
            "cpu_count": os.cpu_count(), "system": platform.system()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import tensorflow as tf

        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # hardware info is best effort, never a reason to fail a run
        info["gpus"] = []
    return info


def machine_line(hw: dict) -> str:
    """One line for a card or a table: "<CPU model>, <n> cores"."""
    return f"{hw.get('cpu') or hw.get('machine')}, {hw.get('cpu_count')} cores"


def versions(all_backends: bool = False) -> dict:
    """kdl, Keras, Python and TensorFlow plus the running backend's package (or, with
    ``all_backends``, each backend's package: None where it is not installed)."""
    import keras

    import kdl

    out = {"kdl": kdl.__version__, "keras": keras.version(), "python": platform.python_version()}
    backend = keras.backend.backend()
    packages = ("tensorflow", "jax", "torch") if all_backends else sorted(
        {"tensorflow", {"jax": "jax", "torch": "torch"}.get(backend, "tensorflow")})
    for package in packages:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def provenance(recipe) -> dict:
    """The record of a run of ``recipe`` (already resolved: what will run)."""
    import keras

    hw = hardware()
    return {"config": recipe.to_dict(), "backend": keras.backend.backend(),
            "versions": versions(), "hardware": hw, "machine": machine_line(hw),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
