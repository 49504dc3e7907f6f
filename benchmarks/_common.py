"""What the benchmarks share: where results go, and the provenance each one carries."""

from __future__ import annotations

import json
import os
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def subprocess_env(**extra) -> dict:
    """The environment for a benchmark's child process: the repository importable."""
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def machine_slug(line: str) -> str:
    """A machine line (:func:`kdl.platform.machine_line`) as a file-name part:
    ``Intel(R) Xeon(R) Processor (6/207, AVX512-BF16), 2 cores`` ->
    ``intel-xeon-processor-6-207-avx512-bf16-2-cores``."""
    line = re.sub(r"\((R|TM)\)", "", line)
    return re.sub(r"[^a-z0-9]+", "-", line.lower()).strip("-")


def provenance() -> dict:
    from kdl.platform import hardware, machine_line, versions

    hw = hardware()
    return {"machine": machine_line(hw), "hardware": hw, "versions": versions(all_backends=True),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def result_path(script: str, machine: str, variant: str = "", out: str = RESULTS) -> str:
    name = f"{script}-{variant}" if variant else script
    return os.path.join(out, f"{name}-{machine_slug(machine)}.json")


def write_result(script: str, result: dict, *, variant: str = "", argv=None,
                 out: str = RESULTS) -> str:
    """Write ``result`` with its provenance (``benchmark``: script, command, machine,
    hardware, versions, date) to ``out/SCRIPT[-VARIANT]-MACHINE.json``; returns the path."""
    record = provenance()
    args = sys.argv[1:] if argv is None else list(argv)
    record["command"] = " ".join(["python -m", f"benchmarks.{script}", *args])
    record["script"] = script
    path = result_path(script, record["machine"], variant, out)
    os.makedirs(out, exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump({**result, "benchmark": record}, f, indent=2, default=str)
    os.replace(path + ".tmp", path)
    return path
