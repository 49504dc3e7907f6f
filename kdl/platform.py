"""The machine kdl runs on, and the choices it makes from it: the first floor, beside
:mod:`kdl.recipes`.

- Facts: :func:`cpu_info`, :func:`hardware`, :func:`machine_line`, :func:`versions`, and
  :func:`provenance`, the one record of where a result comes from. ``kdl train`` makes it
  when the recipe is resolved (before anything is written); ``result.json``, the export's
  ``kdl.json`` and the recipe card all carry this same record, so the three can never
  disagree on what ran (the recipe as it ran, the backend, the versions, the machine).
- Rules: :func:`precision_for` (``precision="auto"``), :func:`jit_compile_for` (per
  backend), :func:`enable_determinism`, :func:`set_precision`.
- :func:`import_tensorflow`: TensorFlow without its start-up noise on the terminal.
  TensorFlow writes its start-up lines from C++ straight to file descriptor 2, some of
  them before any Python logging exists, so neither ``TF_CPP_MIN_LOG_LEVEL`` nor Python's
  ``logging`` reaches them all; descriptor 2 points at a temporary file while TensorFlow
  loads and lists its devices (which does not initialize its runtime, so a
  MultiWorkerMirroredStrategy can still be configured afterwards). ``startup_log()``
  returns what was written, and a failure to import re-raises with it.

Keras, TensorFlow, JAX and PyTorch are imported inside the functions that ask them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from importlib.metadata import PackageNotFoundError, version

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
# How batches reach the model: tf.data (kdl.data.pipeline) or Keras' PyDataset
# (kdl.data.feed, no TensorFlow); "auto": tf.data wherever TensorFlow is installed.
INPUT_PIPELINES = ("auto", "tf.data", "pydataset")


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
            out[package] = version(package) if package != "tensorflow" or \
                tensorflow_available() else None
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


# --- rules ---------------------------------------------------------------------------------

def tensorflow_available() -> bool:
    """Whether TensorFlow can be imported here (without importing it)."""
    if "tensorflow" in sys.modules:
        return True
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


def input_pipeline_for(recipe) -> str:
    """``recipe.input_pipeline``, or where it is "auto" tf.data where TensorFlow is
    installed and Keras' PyDataset (:mod:`kdl.data.feed`) where it is not. Raises
    :class:`kdl.errors.ConfigError` for tf.data on a machine without TensorFlow."""
    choice = getattr(recipe, "input_pipeline", "auto")
    if choice == "auto":
        return "tf.data" if tensorflow_available() else "pydataset"
    if choice == "tf.data" and not tensorflow_available():
        from kdl.errors import ConfigError

        raise ConfigError("input_pipeline 'tf.data' needs TensorFlow, which is not installed "
                          "here; 'pydataset' or 'auto' feeds the model without it. "
                          "Received: input_pipeline='tf.data'")
    return choice


def jit_compile_for(recipe) -> bool | str:
    """``recipe.jit_compile``, or where it is None the choice for the backend: on JAX on
    (without ``jax.jit`` Keras runs JAX op by op); on TensorFlow off on a CPU-only machine
    (XLA was slower on CPUs for kdl's recipes) and Keras' "auto" where there is a GPU (not
    measured by kdl); on PyTorch off (eager, as Keras' "auto"). Measured by
    ``benchmarks/backends.py``; docs: performance."""
    import keras

    if recipe.jit_compile is not None:
        return recipe.jit_compile
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return "auto" if tf.config.list_physical_devices("GPU") else False
    return backend == "jax"


def _cpu_flags() -> set[str]:
    return cpu_info()["flags"]


def _gpu_capabilities() -> list[tuple[int, int]]:
    """The compute capabilities of the GPUs that the running Keras backend sees
    (best effort: [] when it sees none or cannot say)."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            details = (tf.config.experimental.get_device_details(gpu)
                       for gpu in tf.config.list_physical_devices("GPU"))
            return [tuple(d["compute_capability"]) for d in details
                    if d.get("compute_capability")]
        if backend == "jax":
            import jax

            return [tuple(int(p) for p in str(d.compute_capability).split(".")[:2])
                    for d in jax.devices()
                    if d.platform == "gpu" and getattr(d, "compute_capability", None)]
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return [tuple(torch.cuda.get_device_capability(i))
                        for i in range(torch.cuda.device_count())]
    except Exception:  # a device query is never a reason to fail a run
        return []
    return []


def precision_for(recipe) -> str:
    """``recipe.precision``, or where it is "auto" the policy that trains faster here:
    ``mixed_bfloat16`` on a CPU with AMX tiles (``amx_bf16``) or where the backend
    sees a GPU of compute capability 8.0 or more, else ``float32``.

    Why: bfloat16 trains faster than float32 only with AMX tiles on this family of CPUs
    (``benchmarks/mixed_precision.py``; numbers in docs: performance). The GPU rule is
    Keras' mixed-precision guide's, not a kdl measurement."""
    if recipe.precision != "auto":
        return recipe.precision
    if "amx_bf16" in _cpu_flags():
        return "mixed_bfloat16"
    if any(capability >= (8, 0) for capability in _gpu_capabilities()):
        return "mixed_bfloat16"
    return "float32"


JAX_DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"


def enable_determinism(backend: str | None = None) -> None:
    """Op determinism for a run: TensorFlow's (its ops feed every backend's input
    pipeline) and the training backend's (``backend``, default the running one).

    - TensorFlow: ``tf.config.experimental.enable_op_determinism()``.
    - PyTorch: ``torch.use_deterministic_algorithms(True)``, cuDNN's benchmark mode off
      and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (PyTorch's reproducibility notes).
    - JAX: XLA's ``--xla_gpu_deterministic_ops=true``, which XLA reads once, when JAX
      starts its backends; it is added to ``XLA_FLAGS`` if they have not started. If
      they have, on a GPU without the flag this raises (the run could not keep its
      promise); on CPUs, XLA's kernels give one result per input already.

    Irreversible for the process: ops without a deterministic kernel then raise. Where
    TensorFlow is not installed, only the backend's."""
    import keras

    backend = backend or keras.backend.backend()
    if tensorflow_available():  # absent, no TensorFlow op runs (kdl.data.feed feeds)
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    if backend == "torch":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        import torch

        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        if JAX_DETERMINISTIC_FLAG.split("=")[0] in flags:
            return
        if not _jax_backends_started():
            os.environ["XLA_FLAGS"] = f"{flags} {JAX_DETERMINISTIC_FLAG}".strip()
            return
        import jax

        if jax.default_backend() != "cpu":
            from kdl.errors import ConfigError

            raise ConfigError(
                f"deterministic runs on JAX's {jax.default_backend()} need XLA_FLAGS="
                f"{JAX_DETERMINISTIC_FLAG} before JAX starts (kdl train --deterministic sets "
                f"it). Received: XLA_FLAGS={flags!r} with JAX already started")


def _jax_backends_started() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:  # JAX's private module moved: assume started, the safe side
        return True
    return bool(xla_bridge.backends_are_initialized())


def set_precision(precision: str) -> None:
    import keras

    keras.mixed_precision.set_global_policy(precision)


# --- TensorFlow, quietly --------------------------------------------------------------------

_STARTUP_LOG = ""


def startup_log() -> str:
    """What TensorFlow wrote to stderr while :func:`import_tensorflow` loaded it quietly."""
    return _STARTUP_LOG


class _Captured:
    text = ""


@contextlib.contextmanager
def quiet_native_stderr():
    """File descriptor 2 pointed at a temporary file for the block, so C++ log lines
    (TensorFlow's start-up, LiteRT's delegate) stay off the terminal; what was written is
    in the yielded object's ``text`` afterwards, and written back to stderr if the block
    fails."""
    captured = _Captured()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        captured.text = sink.read().decode(errors="replace")


def import_tensorflow(quiet: bool = True):
    """Import TensorFlow (and list its devices); with ``quiet``, keep its C++ start-up
    lines and Python warnings off the terminal. Returns the module, or None where it is
    not installed (JAX and PyTorch train without it: kdl.data.feed)."""
    global _STARTUP_LOG
    if not tensorflow_available():
        return None
    if not quiet:
        import tensorflow as tf

        return tf
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with quiet_native_stderr() as captured:
        import tensorflow as tf

        tf.config.list_physical_devices()  # device discovery logs (cuInit) here
        import keras  # noqa: F401
    _STARTUP_LOG = captured.text
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(keras|tensorflow|keras_tuner|tensorflow_datasets)")
    return tf
