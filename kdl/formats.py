"""ONNX and LiteRT beside the SavedModel, each checked by its own runtime before it is kept.

``kdl export ... --format onnx|litert`` (and ``kdl train --format``) write ``model.onnx``
and ``model.tflite`` into the export's version, in the temporary directory that becomes
the version, so the three appear together or not at all. Each takes what the Keras model
takes: ``float32`` pixels in [0, 255], ``[batch, H, W, C]``, all preprocessing inside, and
answers the class probabilities.

Each artifact is run by its own runtime (onnxruntime; LiteRT's interpreter,
``ai_edge_litert``) on the recipe's test split; its accuracy and its largest absolute
difference from the Keras model's probabilities go into ``kdl.json``, and an artifact whose
accuracy differs from the Keras model's by more than :data:`MAX_ACCURACY_GAP` is refused in
one line (nothing published). What none of Keras, tf2onnx or LiteRT does is this check.

ONNX goes through tf2onnx from the model's forward pass with its variables frozen into
constants: Keras' own ``model.export(format="onnx")`` on TensorFlow leaves some layers'
weights (the Normalization layer's mean and variance) as graph inputs an ONNX client would
have to feed (``kdl._keras_compat``, fault 8). LiteRT goes through Keras'
``model.export(format="litert")``. Both need the TensorFlow backend; a model trained on
JAX or PyTorch is exported from its ``model.keras`` by ``kdl export``, which loads it on
TensorFlow.
"""

from __future__ import annotations

import importlib.metadata
import os

import numpy as np

from kdl.errors import KdlError
from kdl.platform import quiet_native_stderr

FORMATS = {"onnx": "model.onnx", "litert": "model.tflite"}
EXTRAS = {"onnx": ("onnxruntime", "tf2onnx"), "litert": ("ai_edge_litert",)}
MAX_ACCURACY_GAP = 0.001
ONNX_OPSET = 17


class ExportFormatError(KdlError, ValueError):
    """A format kdl cannot write here, or an artifact its runtime does not reproduce."""


def check_formats(formats, backend: str) -> list[str]:
    """The formats asked for, checked before any training or writing."""
    import importlib.util

    formats = [f for f in dict.fromkeys(formats or []) if f != "savedmodel"]
    for f in formats:
        if f not in FORMATS:
            raise ExportFormatError(f"Unknown export format {f!r}: kdl writes savedmodel, "
                                    f"{', '.join(FORMATS)}. Received: --format {f}")
        missing = [m for m in EXTRAS[f] if importlib.util.find_spec(m) is None]
        if missing:
            raise ExportFormatError(f"--format {f} needs {', '.join(missing)}: pip install "
                                    f"'kdl[{f}]'. Received: --format {f}")
        if backend != "tensorflow":
            raise ExportFormatError(
                f"--format {f} exports from the TensorFlow backend: train on {backend}, then "
                f"`kdl export RECIPE --workdir W --format {f}` (it loads model.keras on "
                f"TensorFlow). Received: --format {f} on KERAS_BACKEND={backend}")
    return formats


def _write_onnx(model, path: str) -> None:
    import tensorflow as tf
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    from kdl._keras_compat import tf2onnx_for_numpy2

    tf2onnx_for_numpy2()
    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name="images")
    forward = tf.function(lambda images: model(images, training=False))
    frozen = convert_variables_to_constants_v2(forward.get_concrete_function(spec))
    tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(), input_names=[t.name for t in frozen.inputs],
        output_names=[t.name for t in frozen.outputs], opset=ONNX_OPSET, output_path=path)


def _onnx_runner(path: str):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def _write_litert(model, path: str) -> None:
    model.export(path, format="litert", verbose=False)


def _litert_runner(path: str):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=os.cpu_count())
    index = interpreter.get_input_details()[0]["index"]
    output = interpreter.get_output_details()[0]["index"]
    shape = [None]

    def run(x):
        if shape[0] != x.shape:
            interpreter.resize_tensor_input(index, list(x.shape))
            interpreter.allocate_tensors()
            shape[0] = x.shape
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output).copy()

    return run


WRITERS = {"onnx": (_write_onnx, _onnx_runner, "onnxruntime"),
           "litert": (_write_litert, _litert_runner, "ai-edge-litert")}


def write_checked(model, version: str, formats, test) -> dict:
    """Write each of ``formats`` into ``version`` and run it on ``test`` (batches of
    (uint8 images, labels)) beside the Keras model; returns what ``kdl.json`` records."""
    records = {}
    if not formats:
        return records
    batches = [(np.asarray(x, dtype="float32"), np.asarray(y)) for x, y in test]
    expected = [np.asarray(model.predict_on_batch(x)) for x, _ in batches]
    labels = np.concatenate([y for _, y in batches])
    keras_accuracy = float(np.mean(np.concatenate([p.argmax(-1) for p in expected]) == labels))
    for f in formats:
        write, runner, package = WRITERS[f]
        path = os.path.join(version, FORMATS[f])
        with quiet_native_stderr():
            write(model, path)
            run = runner(path)
            got = [run(x) for x, _ in batches]
        accuracy = float(np.mean(np.concatenate([p.argmax(-1) for p in got]) == labels))
        diff = float(max(np.max(np.abs(g - e)) for g, e in zip(got, expected, strict=True)))
        if abs(accuracy - keras_accuracy) > MAX_ACCURACY_GAP:
            raise ExportFormatError(
                f"The {f} export answers the test split with accuracy {accuracy:.4f}, the "
                f"Keras model {keras_accuracy:.4f} (gap over {MAX_ACCURACY_GAP}): not kept. "
                f"Received: --format {f}")
        records[f] = {"file": FORMATS[f], "input": "float32 [batch, H, W, C] in [0, 255]",
                      "test_accuracy": accuracy, "keras_test_accuracy": keras_accuracy,
                      "max_abs_diff": diff, "test_examples": int(len(labels)),
                      "runtime": f"{package} {importlib.metadata.version(package)}",
                      **({"opset": ONNX_OPSET} if f == "onnx" else {})}
    return records
