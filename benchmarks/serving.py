"""Serving latency of one export four ways: the SavedModel's uint8 and bytes signatures,
onnxruntime on its ONNX file, LiteRT's interpreter on its .tflite file.

For each recipe (LeNet-5 and ResNet-20 on Fashion-MNIST; the models as their recipes build
them, weights untrained: latency does not depend on them), ``kdl.export.export_run`` writes
the version with ``formats=("onnx", "litert")``, then each way answers the same test
images at batch 1 and batch 256, in one process, one way after another, after warm-up
calls: p50 and p99 of the call's wall time, and images/s at p50. The bytes signature gets
the images as PNG files, as a TF Serving REST client would send them (its time includes
decoding and resizing); the others get pixels. Every runtime uses its default thread
count on this machine.

    python -m benchmarks.serving [--calls 200] [--recipes lenet5_fashion_mnist,...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

import kdl  # noqa: F401  (sets KERAS_BACKEND)
from benchmarks._common import write_result


def _timed(call, calls: int) -> dict:
    for _ in range(max(3, calls // 20)):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    return {"p50_ms": round(statistics.median(times), 3), "p99_ms": round(p99, 3),
            "calls": calls}


def measure(recipe_name: str, calls: int, batches=(1, 256)) -> dict:
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter
    import onnxruntime

    from kdl.engine.loop import build_model, prepare_data
    from kdl.export import export_run, quiet_load
    from kdl.recipes import get_recipe

    recipe = get_recipe(recipe_name).replace(max_train_examples=512, max_test_examples=512)
    data = prepare_data(recipe)
    model = build_model(recipe, data)
    with tempfile.TemporaryDirectory(prefix="kdl-serving-") as out:
        version = export_run(model, recipe, out, {}, data, formats=("onnx", "litert"))
        loaded = quiet_load(version)
        session = onnxruntime.InferenceSession(os.path.join(version, "model.onnx"),
                                               providers=["CPUExecutionProvider"])
        onnx_input = session.get_inputs()[0].name
        interpreter = Interpreter(model_path=os.path.join(version, "model.tflite"),
                                  num_threads=os.cpu_count())
        lite_in = interpreter.get_input_details()[0]["index"]
        lite_out = interpreter.get_output_details()[0]["index"]
        images = np.concatenate([np.asarray(x) for x, _ in data.test]).astype("uint8")
        rows = []
        for batch in batches:
            x = np.resize(images, (batch, *images.shape[1:]))
            pngs = tf.constant([tf.io.encode_png(i).numpy() for i in x])
            pixels, floats = tf.constant(x), x.astype("float32")
            interpreter.resize_tensor_input(lite_in, list(floats.shape))
            interpreter.allocate_tensors()

            def lite():
                interpreter.set_tensor(lite_in, floats)
                interpreter.invoke()
                return interpreter.get_tensor(lite_out)

            ways = {
                "savedmodel uint8 (serving_default)":
                    lambda: loaded.signatures["serving_default"](images=pixels),
                "savedmodel bytes (serving_bytes)":
                    lambda: loaded.signatures["serving_bytes"](images=pngs),
                "onnxruntime": lambda: session.run(None, {onnx_input: floats}),
                "litert": lite,
            }
            n = calls if batch == 1 else max(10, calls // 10)
            for way, call in ways.items():
                t = _timed(call, n)
                rows.append({"recipe": recipe_name, "way": way, "batch": batch, **t,
                             "images_per_s": round(batch / t["p50_ms"] * 1e3, 1)})
                print(f"{recipe_name:<24} {way:<36} batch {batch:>3}: p50 {t['p50_ms']:.2f} ms,"
                      f" p99 {t['p99_ms']:.2f} ms", flush=True)
    return {"recipe": recipe_name, "params": int(model.count_params()), "rows": rows}


def markdown(result: dict) -> str:
    lines = ["| recipe | way | batch | p50 ms | p99 ms | images/s at p50 |",
             "|---|---|---|---|---|---|"]
    for r in (row for m in result["models"] for row in m["rows"]):
        lines.append(f"| {r['recipe']} | {r['way']} | {r['batch']} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['images_per_s']:,.0f} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="timed calls at batch 1 "
                                                                "(a tenth of them at 256)")
    parser.add_argument("--recipes", default="lenet5_fashion_mnist,resnet20_fashion_mnist")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = parser.parse_args(argv)
    result = {"models": [measure(r, args.calls) for r in args.recipes.split(",")]}
    kwargs = {"out": args.out} if args.out else {}
    path = write_result("serving", result, argv=argv, **kwargs)
    print(path)
    return result


if __name__ == "__main__":
    main()
