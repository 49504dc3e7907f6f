"""tf.distribute strategies, from one CPU to many GPU workers, and the Keras 3 fix for
multi-worker training.

:func:`get_strategy` ``kind="auto"`` picks a TPU where there is one,
MultiWorkerMirroredStrategy where ``TF_CONFIG`` names a cluster, MirroredStrategy with
two or more GPUs, otherwise the default strategy. The batch size a recipe gives is the
global one, split over replicas; the linear learning-rate scaling rule (Goyal et al.
2017) is the recipe option ``scale_learning_rate``.

Keras 3 ``fit`` fails under MultiWorkerMirroredStrategy (keras-team/keras issue 20585,
open): in ``keras/src/backend/tensorflow/trainer.py``, ``_maybe_symbolic_build``
reduces a distributed *data batch* with ``strategy.reduce``, which fails on per-replica
values, and ``reduce_per_replica`` reduces scalar logs with ``axis=0``.
:func:`kdl._keras_compat.patch_multi_worker_fit` wraps each, only for Keras versions whose
source still has that faulty call (checked, not assumed), and is applied by
:func:`get_strategy` whenever it returns a multi-worker strategy.
"""

from __future__ import annotations

import contextlib
import json
import os

from kdl._keras_compat import patch_multi_worker_fit
from kdl.errors import KdlError

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")


class StrategyError(KdlError, ValueError):
    """A strategy that cannot be made as asked (bad TF_CONFIG, no such device)."""


def parse_tf_config(text: str | None = None) -> dict | None:
    """The cluster from ``TF_CONFIG`` (or ``text``), checked; None when unset."""
    text = os.environ.get("TF_CONFIG") if text is None else text
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise StrategyError(f"TF_CONFIG is not valid JSON ({e.msg}). Received: TF_CONFIG={text!r}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise StrategyError(f"TF_CONFIG needs a non-empty 'cluster'. Received: TF_CONFIG={text!r}")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise StrategyError(
            f"TF_CONFIG needs 'task' with 'type' and 'index'. Received: TF_CONFIG={text!r}")
    jobs = cluster.get(task["type"])
    if not isinstance(jobs, list) or not isinstance(task["index"], int) \
            or not 0 <= task["index"] < len(jobs):
        raise StrategyError(
            f"TF_CONFIG's task {task['type']}:{task['index']} is not in its cluster. "
            f"Received: TF_CONFIG={text!r}")
    for job, addresses in cluster.items():
        for address in addresses if isinstance(addresses, list) else [addresses]:
            host, _, port = str(address).rpartition(":")
            if not host or not port.isdigit():
                raise StrategyError(
                    f"TF_CONFIG address {address!r} of job '{job}' is not host:port. "
                    f"Received: TF_CONFIG={text!r}")
    return config


def get_strategy(kind: str = "auto"):
    """A ``tf.distribute.Strategy`` of ``kind`` (see the module docstring for "auto")."""
    if kind not in STRATEGIES:
        from kdl._names import unknown_name_message

        raise StrategyError(unknown_name_message("strategy", kind, STRATEGIES))
    import tensorflow as tf

    if kind == "auto":
        if _tpu_available():
            kind = "tpu"
        elif parse_tf_config() is not None:
            kind = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) >= 2:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if kind == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if kind == "multi_worker":
        if parse_tf_config() is None:
            raise StrategyError("--strategy multi_worker needs TF_CONFIG naming the cluster. "
                                "Received: TF_CONFIG unset")
        patch_multi_worker_fit()
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _tpu_available() -> bool:
    if not (os.environ.get("TPU_NAME") or os.path.exists("/dev/accel0")
            or os.environ.get("COLAB_TPU_ADDR")):
        return False
    try:
        import tensorflow as tf

        tf.distribute.cluster_resolver.TPUClusterResolver()
        return True
    except (ValueError, RuntimeError):
        return False


class _NoStrategy:
    """Where TensorFlow is not installed: one replica, a scope that does nothing (JAX and
    PyTorch spread over devices with Keras' own distribution API instead)."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


def default_strategy():
    """TensorFlow's default strategy, or where TensorFlow is not installed one that does
    nothing: what a run without ``--strategy`` trains under."""
    from kdl.platform import tensorflow_available

    if not tensorflow_available():
        return _NoStrategy()
    import tensorflow as tf

    return tf.distribute.get_strategy()


def is_chief() -> bool:
    """Whether this process should write exports and final logs (worker 0 or chief)."""
    config = parse_tf_config()
    if config is None:
        return True
    task = config["task"]
    if task["type"] == "chief":
        return True
    return task["type"] == "worker" and task["index"] == 0 and "chief" not in config["cluster"]


def strategy_for_backend(kind: str, backend: str):
    """``(strategy, data-parallel devices)`` for ``--strategy KIND`` on ``backend``: a
    tf.distribute strategy on TensorFlow (devices 1); on JAX and PyTorch None, ``auto``
    spreading over local accelerators with Keras' data parallelism. Raises
    :class:`StrategyError` (one line) for what the backend cannot run."""
    if backend == "tensorflow":
        return get_strategy(kind), 1
    cluster = os.environ.get("TF_CONFIG")
    if kind not in ("auto", "default") or cluster:
        raise StrategyError(f"tf.distribute strategies need the TensorFlow backend. Received: "
                            f"--strategy {kind}{' with TF_CONFIG set' if cluster else ''}"
                            f" on KERAS_BACKEND={backend}")
    return None, use_keras_data_parallel() if kind == "auto" else 1


def use_keras_data_parallel() -> int:
    """On JAX, with more than one device, train data parallel through Keras' own
    distribution API (``keras.distribution.DataParallel``: batches split over the devices,
    weights replicated); returns the number of devices used (1: nothing set)."""
    import keras

    if keras.backend.backend() != "jax":
        return 1
    devices = keras.distribution.list_devices()
    if len(devices) > 1:
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return len(devices)

