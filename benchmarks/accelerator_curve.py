"""A recipe's test-accuracy curve on Keras' JAX or PyTorch backend, with no TensorFlow.

``benchmarks/accuracy_curve.py`` trains through kdl's tf.data pipeline, which needs
TensorFlow. A GPU machine without it (the one this project borrows has PyTorch and JAX)
can still answer "does this recipe reach its row, and in how many epochs": this script
trains the recipe's own model, optimizer, schedule, weight decay, loss and augmentation
layers on Keras' backend, with the augmentation inside the model (active in training
only, on the accelerator) and the data fed from in-memory arrays, read from IDX files by
kdl's reader and split by kdl's seeded validation carve.

What differs from ``kdl train``: the augmentation runs on the accelerator, not in tf.data;
the normalization statistics are computed in NumPy (the same per-channel mean and
variance that ``keras.layers.Normalization.adapt`` computes); no early stopping. After
every epoch it prints the epoch's training seconds, training accuracy, test accuracy and
test accuracy of predictions averaged with the mirror image (``Recipe.test_time_flip``).

    KERAS_BACKEND=jax python -m benchmarks.accelerator_curve resnet18_fashion_mnist \\
        '{"model_args": {"stem": "small"}}' --data /usr/share/datasets/fashion-mnist

Each line printed is JSON; the last one has the whole curve, the device and the versions,
and ``--out FILE`` writes it after every epoch (a run cut short keeps its curve).
"""

from __future__ import annotations

import argparse
import json
import os
import platform

os.environ.setdefault("KERAS_BACKEND", "jax")


def _device() -> str:
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return ", ".join(sorted({d.device_kind for d in jax.devices()}))
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a label only
        pass
    from kdl.platform import cpu_info

    return cpu_info().get("cpu") or platform.processor() or "CPU"


def build(recipe, image_shape, num_classes, train_images):
    """raw pixels in [0, 255] -> augmentation (training only) -> per-channel
    normalization -> resize -> the recipe's network, as ``kdl train`` builds it."""
    import keras
    import numpy as np

    from kdl.data.augment import build_augmentation
    from kdl.models import get_model

    inputs = keras.Input(shape=image_shape, name="image")
    x = inputs
    augmentation = build_augmentation(recipe.augmentation, image_shape, seed=recipe.seed)
    if augmentation is not None:
        x = augmentation(x)
    if recipe.normalization == "scale":
        x = keras.layers.Rescaling(1.0 / 255, name="rescale")(x)
    elif recipe.normalization == "channel":
        pixels = train_images.reshape(-1, image_shape[-1]).astype(np.float64)
        x = keras.layers.Normalization(axis=-1, mean=pixels.mean(0), variance=pixels.var(0),
                                       dtype="float32", name="normalization")(x)
    elif recipe.normalization is not None:
        raise ValueError("accelerator curves take normalization 'channel', 'scale' or None. "
                         f"Received: normalization={recipe.normalization!r}")
    if recipe.image_size is not None:
        x = keras.layers.Resizing(*recipe.image_size, name="resize")(x)
    network = get_model(recipe.model, input_tensor=x, classes=num_classes, **recipe.model_args)
    outputs = keras.layers.Activation("linear", dtype="float32",
                                      name="predictions_float32")(network.output)
    return keras.Model(inputs, outputs, name=network.name)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("variant", nargs="?", default="{}", help="JSON: recipe fields to change")
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="a folder of the four IDX files (Fashion-MNIST's, gzipped or not)")
    parser.add_argument("--stop-after", type=int, metavar="EPOCHS",
                        help="stop after this many epochs (the schedule still spans the "
                             "recipe's epochs)")
    parser.add_argument("--out", metavar="FILE", help="write the result here after each epoch")
    args = parser.parse_args(argv)
    import keras

    from benchmarks.accuracy_curve import curve_probe

    from kdl.data.idx import load_idx_directory
    from kdl.data.sources import carve_validation
    from kdl.recipes import get_recipe
    from kdl.engine.regularize import apply_regularizers
    from kdl.engine.loop import compile_model
    from kdl.platform import precision_for, set_precision

    base = get_recipe(args.recipe)
    changes = json.loads(args.variant)
    unknown = sorted(set(changes) - set(base.to_dict()))
    if unknown:
        parser.error(f"unknown recipe field(s) {', '.join(unknown)}. Received: {args.variant}")
    recipe = base.replace(**changes)
    from kdl.tasks import get_task

    if not get_task(recipe.task).classifier:
        parser.error(f"accuracy curves are for classification recipes. Received: {args.recipe}")
    keras.utils.set_random_seed(recipe.seed)
    train, (x_test, y_test) = load_idx_directory(args.data)
    (x_train, y_train), _ = carve_validation(*train, recipe.validation_fraction, recipe.seed)
    x_train = x_train[:recipe.max_train_examples].astype("float32")
    y_train = y_train[:recipe.max_train_examples].astype("int32")
    x_test = x_test[:recipe.max_test_examples].astype("float32")
    y_test = y_test[:recipe.max_test_examples].astype("int32")
    precision = precision_for(recipe)
    set_precision(precision)
    model = build(recipe, x_train.shape[1:], int(y_train.max()) + 1, x_train)
    apply_regularizers(model, recipe)
    steps = -(-len(x_train) // recipe.batch_size)
    compile_model(model, recipe, steps)
    result = {"recipe": args.recipe, "variant": changes, "epochs": recipe.epochs,
              "backend": keras.backend.backend(), "keras": keras.__version__,
              "device": _device(), "precision": precision,
              "params": int(model.count_params()), "train_examples": len(x_train),
              "curve": []}

    def write(point):
        if args.out:
            with open(args.out + ".tmp", "w") as f:
                json.dump(result, f, indent=1)
            os.replace(args.out + ".tmp", args.out)

    model.fit(x_train, y_train, batch_size=recipe.batch_size, epochs=recipe.epochs,
              shuffle=True, verbose=0,
              callbacks=[curve_probe(x_test, y_test, result["curve"], args.stop_after, write)])
    curve = result["curve"]
    result.update(final=curve[-1], best_test_accuracy=max(p["test_accuracy"] for p in curve),
                  best_flip_averaged=max(p["test_accuracy_flip_averaged"] for p in curve))
    print(json.dumps(result), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("accelerator_curve", main()))
