"""Test accuracy after every epoch of a recipe, with and without flip averaging.

How the LeNet-5 recipe's accuracy choices were made: train a variant of a recipe (its
settings changed by a JSON object) for its epochs, and after each one print the epoch's
training seconds, training accuracy, test accuracy, and test accuracy of predictions
averaged over each image and its mirror image (``Recipe.test_time_flip``).

    python -m benchmarks.accuracy_curve lenet5_fashion_mnist '{"ema": null}'
    python -m benchmarks.accuracy_curve lenet5_fashion_mnist '{"learning_rate": 0.004}' --stop-after 4

Each line printed is JSON; the last one has the whole curve and the best values.
"""

from __future__ import annotations

import argparse
import json
import time

import kdl  # noqa: F401  (sets KERAS_BACKEND)


def curve_probe(images, labels, curve: list, stop_after: int | None = None,
                after_point=None):
    """A callback that, after every epoch, appends to ``curve`` and prints the epoch's
    training seconds, training accuracy, and test accuracy on ``images``, plain and
    averaged with the mirror images; calls ``after_point(point)``; stops after
    ``stop_after`` epochs if given."""
    import keras

    mirrored = images[:, :, ::-1, :]

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.start
            probs = self.model.predict(images, batch_size=1000, verbose=0)
            flipped = self.model.predict(mirrored, batch_size=1000, verbose=0)
            point = {"epoch": epoch + 1, "train_s": round(seconds, 2),
                     "train_accuracy": round(float(logs["accuracy"]), 4),
                     "test_accuracy": round(float((probs.argmax(1) == labels).mean()), 4),
                     "test_accuracy_flip_averaged":
                         round(float(((probs + flipped).argmax(1) == labels).mean()), 4)}
            curve.append(point)
            print(json.dumps(point), flush=True)
            if after_point is not None:
                after_point(point)
            if stop_after and epoch + 1 >= stop_after:
                self.model.stop_training = True

    return Probe()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("variant", nargs="?", default="{}", help="JSON: recipe fields to change")
    parser.add_argument("--stop-after", type=int, metavar="EPOCHS",
                        help="stop after this many epochs (the schedule still spans the "
                             "recipe's epochs): the start of a curve")
    args = parser.parse_args(argv)
    import numpy as np

    from kdl.recipes import get_recipe
    from kdl.engine.loop import build_model, compile_model, prepare_data

    base = get_recipe(args.recipe)
    changes = json.loads(args.variant)
    unknown = sorted(set(changes) - set(base.to_dict()))
    if unknown:
        parser.error(f"unknown recipe field(s) {', '.join(unknown)}. Received: {args.variant}")
    recipe = base.replace(**changes)
    from kdl.tasks import get_task

    if not get_task(recipe.task).classifier:
        parser.error(f"accuracy curves are for classification recipes. Received: {args.recipe}")
    data = prepare_data(recipe)
    model = build_model(recipe, data)
    compile_model(model, recipe, data.steps_per_epoch)
    batches = list(data.test.as_numpy_iterator())
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    curve = []
    model.fit(data.train, epochs=recipe.epochs, verbose=0,
              callbacks=[curve_probe(images, labels, curve, args.stop_after)])
    result = {"recipe": args.recipe, "variant": changes, "curve": curve,
              "final": curve[-1],
              "best_test_accuracy": max(p["test_accuracy"] for p in curve),
              "best_flip_averaged": max(p["test_accuracy_flip_averaged"] for p in curve)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("accuracy_curve", main()))
