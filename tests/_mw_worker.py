"""One process of a multi-worker (or single-process reference) run, for the tests.

usage: _mw_worker.py OUT.npz [multi_worker|single]   (TF_CONFIG set for multi_worker)

Trains a small MLP for a fixed number of steps on fixed data with a global batch of 64;
each worker takes its half of every global batch, so the union per step is exactly the
single-process batch. Saves per-step losses and the final weights.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

import kdl  # noqa: E402,F401

GLOBAL_BATCH, STEPS = 64, 12


def main(out_path, mode):
    import keras
    import tensorflow as tf

    from kdl.engine.distribute import get_strategy

    strategy = get_strategy("multi_worker" if mode == "multi_worker" else "default")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(GLOBAL_BATCH * STEPS, 20)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("int64")

    def dataset_fn(ctx):
        per_replica = ctx.get_per_replica_batch_size(GLOBAL_BATCH)
        i = ctx.input_pipeline_id
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
        return ds.map(lambda a, b: (a[i * per_replica:(i + 1) * per_replica],
                                    b[i * per_replica:(i + 1) * per_replica]))

    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    if mode == "multi_worker":
        data = strategy.distribute_datasets_from_function(dataset_fn)
    else:
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    losses = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(
        float(logs["loss"])))
    model.fit(data, epochs=1, steps_per_epoch=STEPS, verbose=0, callbacks=[cb], shuffle=False)
    weights = {f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())}
    np.savez(out_path, losses=np.array(losses), **weights)
    print("done", len(losses), losses[-1])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "multi_worker")
