"""Loading TensorFlow without its start-up noise on the terminal.

TensorFlow 2.21 writes its start-up lines from C++ straight to file descriptor 2
("WARNING: All log messages before absl::InitializeLog() is called ...", "oneDNN custom
operations are on ...", "Could not find cuda drivers ...", and at device discovery
"failed call to cuInit ..."), some of them before any Python logging exists, so
neither ``TF_CPP_MIN_LOG_LEVEL`` nor Python's ``logging`` reaches them all.
:func:`import_tensorflow` points descriptor 2 at a temporary file while TensorFlow loads
and lists its devices, then puts it back. What was written is kept: ``startup_log()``
returns it, and a failure to import re-raises with it.

Listing devices does not initialize TensorFlow's runtime, so a
MultiWorkerMirroredStrategy can still be configured afterwards.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings

_STARTUP_LOG = ""


def startup_log() -> str:
    """What TensorFlow wrote to stderr while :func:`import_tensorflow` loaded it quietly."""
    return _STARTUP_LOG


def import_tensorflow(quiet: bool = True):
    """Import TensorFlow (and list its devices); with ``quiet``, keep its C++ start-up
    lines and Python warnings off the terminal. Returns the module."""
    global _STARTUP_LOG
    if not quiet:
        import tensorflow as tf

        return tf
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # device discovery logs (cuInit) here
            import keras  # noqa: F401
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
        _STARTUP_LOG = sink.read().decode(errors="replace")
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(keras|tensorflow|keras_tuner|tensorflow_datasets)")
    return tf
