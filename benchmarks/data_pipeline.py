"""Does kdl's augmentation pipeline keep up with training? Measured in one run.

The full augmentation pipeline of issue 3 (flip, crop with padding, elastic distortion,
random erasing) on Fashion-MNIST, in images/s, against the images/s that LeNet-5
training consumes (fed from memory, so the pipeline is not what limits it). The last
line printed is JSON with ``pipeline_images_per_s`` (arrays in memory, as kdl's
recipes feed Fashion-MNIST: batches gathered by index), ``lenet5_train_images_per_s``,
``ratio``, and ``element_pipeline_images_per_s``: the same augmentation fed from a
dataset of single examples (shuffled one by one), as TFDS sources are.

    python -m benchmarks.data_pipeline [--rounds 5] [--batch-size 128] [--spec JSON]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import kdl  # noqa: F401  (sets KERAS_BACKEND)

SPEC = {"flip": "horizontal", "crop": 2, "elastic": {"alpha": 10.0, "sigma": 4.0},
        "erasing": 0.5}


def measure(ds, batch_size: int, rounds: int, spec=None) -> tuple[float, float, float]:
    """Median images/s of the pipeline and of LeNet-5 training, measured alternately
    (one pipeline epoch, one training epoch, ...) so that drifts in the machine's speed
    fall on both alike."""
    import keras
    import tensorflow as tf

    from kdl.data import make_pipeline
    from kdl.data.augment import build_augmentation
    from kdl.models import get_model

    aug = build_augmentation(spec or SPEC, ds.image_shape, seed=0)
    x, y = ds.arrays["train"]
    pipe = make_pipeline((x, y), batch_size, training=True, augmentation=aug)
    element_pipe = make_pipeline(ds.train, batch_size, training=True, augmentation=aug)
    data = tf.data.Dataset.from_tensor_slices((x.astype("float32") / 255.0, y)) \
        .batch(batch_size).cache().prefetch(tf.data.AUTOTUNE)
    model = get_model("lenet5")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    times = []
    cb = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: times.append(time.perf_counter()),
        on_epoch_end=lambda e, logs: times.append(time.perf_counter()))
    def rate(p):
        start, n = time.perf_counter(), 0
        for _, labels in p:
            n += int(labels.shape[0])
        return n / (time.perf_counter() - start)

    for p in (pipe, element_pipe):  # warm-up: fills the cache, traces the augmentation
        rate(p)
    model.fit(data, epochs=1, verbose=0)  # warm-up: traces the train step
    pipe_rates, element_rates, train_rates = [], [], []
    for _ in range(rounds):
        pipe_rates.append(rate(pipe))
        element_rates.append(rate(element_pipe))
        times.clear()
        model.fit(data, epochs=1, verbose=0, callbacks=[cb])
        train_rates.append(len(y) / (times[1] - times[0]))
    return (statistics.median(pipe_rates), statistics.median(train_rates),
            statistics.median(element_rates))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--spec", type=json.loads, default=SPEC,
                        help="the augmentation, as a recipe names it (JSON)")
    parser.add_argument("--max-examples", type=int, default=None,
                        help="a prefix of the train split (smoke runs)")
    args = parser.parse_args(argv)
    from kdl.data import from_arrays, load_image_dataset

    ds = load_image_dataset("fashion_mnist")
    if args.max_examples:
        (x, y), (xt, yt) = ds.arrays["train"], ds.arrays["test"]
        ds = from_arrays(x[:args.max_examples], y[:args.max_examples], xt, yt,
                         validation_fraction=0.0)
    pipe, train, element = measure(ds, args.batch_size, args.rounds, args.spec)
    from kdl.platform import hardware

    result = {"pipeline_images_per_s": round(pipe), "lenet5_train_images_per_s": round(train),
              "ratio": round(pipe / train, 2),
              "element_pipeline_images_per_s": round(element), "batch_size": args.batch_size,
              "augmentation": args.spec, "machine": hardware().get("cpu"),
              "cores": os.cpu_count()}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("data_pipeline", main()))
