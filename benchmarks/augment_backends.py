"""Augmentation throughput per Keras backend: each of kdl's augmentations alone in front of
a linear classifier, trained by ``fit`` (compiled as ``fit`` compiles it on each backend),
batches of 256 Fashion-MNIST-shaped images; "none" is the classifier alone.

    python -m benchmarks.augment_backends            # runs itself once per backend
    KERAS_BACKEND=jax python -m benchmarks.augment_backends --one

Prints one JSON line per backend (images per second per augmentation) and, without
``--one``, each backend's ratio to TensorFlow per augmentation. One process per backend, one
after the other, on the same machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from benchmarks._common import subprocess_env

SPECS = {"flip": "horizontal", "crop": 2, "resized_crop": {"scale": [0.6, 1.0]},
         "rotation": 0.05, "translation": 0.1, "zoom": 0.1,
         "affine": {"rotation": 0.05, "translation": 0.1, "zoom": 0.1}, "elastic": {"alpha": 8.0},
         "erasing": 0.2}


def one(batch: int = 256, batches: int = 40) -> dict:
    """Images per second of a training step with each augmentation in the model (a
    linear classifier after it, so the augmentation is most of the step), through fit."""
    import keras
    import numpy as np

    from kdl.data.augment import build_augmentation

    rng = np.random.default_rng(0)
    x = (rng.random((batch * batches, 28, 28, 1)) * 255).astype("float32")
    y = rng.integers(0, 10, len(x))
    result = {"backend": keras.backend.backend()}
    for name, value in {"none": None, **SPECS}.items():
        layers = [keras.Input((28, 28, 1))]
        if value is not None:
            layers.append(build_augmentation({name: value}, (28, 28, 1), seed=0))
        model = keras.Sequential([*layers, keras.layers.Flatten(), keras.layers.Dense(10)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # compile and warm up
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        result[name] = round(len(x) / (time.perf_counter() - start))
    return result


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if "--one" in argv:
        print(json.dumps(one()), flush=True)
        sys.exit(0)
    rows = []
    for backend in ("tensorflow", "jax", "torch"):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        out = subprocess.run([sys.executable, "-m", "benchmarks.augment_backends", "--one"],
                             env=subprocess_env(**env), capture_output=True, text=True)
        if out.returncode:
            print(json.dumps({"backend": backend, "error": out.stderr.strip().splitlines()[-1]}))
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    tf_row = next((r for r in rows if r["backend"] == "tensorflow"), None)
    ratios = {f"{row['backend']}_over_tensorflow": {k: round(row[k] / tf_row[k], 2)
                                                     for k in ["none", *SPECS]}
              for row in rows if tf_row is not None and row is not tf_row}
    print(json.dumps(ratios))
    return {"images_per_s": rows, "ratios": ratios}

if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("augment_backends", main()))
