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


# The instruction sets that decide kdl's choices here, widest first (``precision="auto"``
# trains in bfloat16 only with AMX): two CPUs with one model name can differ in them.
_ISA = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"), ("avx512f", "AVX-512"),
        ("avx2", "AVX2"), ("asimd", "NEON"))


def cpu_info(path: str = "/proc/cpuinfo") -> dict:
    """The first processor's model name, family/model numbers and flags, from ``path``
    (empty where there is none, e.g. on macOS)."""
    fields = {"model name": "cpu", "cpu family": "family", "model": "model",
              "flags": "flags", "Features": "flags"}
    info = {}
    try:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block ends here
                key, _, value = line.partition(":")
                if key.strip() in fields:
                    info[fields[key.strip()]] = value.strip()
    except OSError:
        pass
    info["flags"] = set(info.get("flags", "").split())
    return info


def widest_isa(flags) -> str | None:
    """The widest of the instruction sets in ``_ISA`` that ``flags`` include."""
    return next((name for flag, name in _ISA if flag in flags), None)


def hardware() -> dict:
    """The machine: architecture, CPU model (with its family/model numbers and widest
    instruction set), core count and GPUs (best effort)."""
    info = {"machine": platform.machine(), "processor": platform.processor() or None,
            "cpu_count": os.cpu_count(), "system": platform.system()}
    cpu = cpu_info()
    if cpu.get("cpu"):
        info["cpu"] = cpu["cpu"]
    if cpu.get("family") and cpu.get("model"):
        info["cpu_id"] = f"{cpu['family']}/{cpu['model']}"
    info["isa"] = widest_isa(cpu["flags"])
    try:
        import tensorflow as tf

        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # hardware info is best effort, never a reason to fail a run
        info["gpus"] = []
    return info


def machine_line(hw: dict) -> str:
    """One line for a card or a table: "<CPU model> (<family/model>, <ISA>), <n> cores".
    The parenthesis tells apart two CPUs sold under one name ("Intel(R) Xeon(R)
    Processor" with and without AMX); records made before it existed have none."""
    detail = ", ".join(v for v in (hw.get("cpu_id"), hw.get("isa")) if v)
    name = hw.get("cpu") or hw.get("machine")
    return f"{name}{f' ({detail})' if detail else ''}, {hw.get('cpu_count')} cores"


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
