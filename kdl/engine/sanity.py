"""The course's first debugging step, as a mode of ``kdl train``: overfit a small batch."""

from __future__ import annotations

import inspect
import math

import keras
import numpy as np

from kdl.engine.loop import build_model, compile_model, prepare_data
from kdl.engine.resolve import check_recipe
from kdl.recipes import Recipe
from kdl.tasks import get_task


def initial_loss_verdict(loss: float, classes: int, tolerance: float = 0.25) -> bool:
    """Whether an untrained classifier's cross-entropy is near log(classes), as it is
    when its predictions start near uniform (within ``tolerance`` x log(classes))."""
    expected = math.log(classes)
    return abs(loss - expected) <= tolerance * expected


class _StopBelowLoss(keras.callbacks.Callback):
    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def on_epoch_end(self, epoch, logs=None):
        if (logs or {}).get("loss", math.inf) < self.threshold:
            self.model.stop_training = True


def _training_mode_loss(model: keras.Model, x: np.ndarray, y: np.ndarray, batch: int) -> float:
    """The loss the optimizer drove down: batch statistics in batch norm, as in training
    (moving averages lag far behind after a few dozen steps on a few examples)."""
    total = 0.0
    for start in range(0, len(x), batch):
        xb, yb = x[start:start + batch], y[start:start + batch]
        loss = model.compute_loss(x=xb, y=yb, y_pred=model(xb, training=True), training=True)
        total += float(keras.ops.convert_to_numpy(loss)) * len(xb)
    return total / len(x)


def overfit_small_batch(recipe: Recipe, examples: int, *, max_steps: int = 2000,
                        threshold: float = 0.01) -> dict:
    """The course's first debugging step: train on ``examples`` training images alone,
    with augmentation, penalties, dropout, weight averaging and early stopping off, until
    the training loss is below ``threshold`` (or ``max_steps`` updates). A network that
    cannot memorize a handful of examples has a bug. The final loss is measured in
    training mode (batch norm on batch statistics). Also checks the untrained loss
    against log(classes). Writes nothing; returns the numbers and both verdicts."""
    if not get_task(recipe.task).classifier:
        raise ValueError("Overfitting a small batch checks classifiers. "
                         f"Received: task={recipe.task!r}")
    if isinstance(examples, bool) or not isinstance(examples, int) or examples <= 0:
        raise ValueError(f"`examples` must be a positive integer. Received: examples={examples!r}")
    from kdl.models._registry import get_model_builder

    params = set(inspect.signature(get_model_builder(recipe.model)).parameters)
    model_args = {**recipe.model_args, **({"dropout": 0.0} if "dropout" in params else {})}
    batch = min(examples, recipe.batch_size)
    r = recipe.replace(max_train_examples=examples, augmentation={}, weight_decay=0.0, l1=0.0,
                       l2=0.0, activity_l1=0.0, ema=None, label_smoothing=0.0,
                       early_stopping="off", schedule="constant", test_time_flip=False,
                       monitor_activations=False, steps_per_execution=1, batch_size=batch,
                       model_args=model_args)
    check_recipe(r)
    keras.utils.set_random_seed(r.seed)
    data = prepare_data(r)
    x, y = [], []
    for images, labels in data.train:
        x.append(np.asarray(images))  # tf.data's tensors or kdl.data.ArrayFeed's arrays
        y.append(np.asarray(labels))
    x, y = np.concatenate(x)[:examples], np.concatenate(y)[:examples]
    model = build_model(r, data)
    steps_per_epoch = -(-len(x) // batch)
    compile_model(model, r, steps_per_epoch)
    initial = float(model.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True)["loss"])
    history = model.fit(x, y, batch_size=batch, epochs=max(1, max_steps // steps_per_epoch),
                        shuffle=True, verbose=0, callbacks=[_StopBelowLoss(threshold)])
    final = _training_mode_loss(model, x, y, batch)
    classes = data.num_classes
    return {"recipe": recipe.name, "examples": int(len(x)), "initial_loss": initial,
            "expected_initial_loss": math.log(classes),
            "initial_loss_ok": initial_loss_verdict(initial, classes),
            "final_loss": final, "threshold": threshold,
            "steps": len(history.history["loss"]) * steps_per_epoch,
            "steps_per_epoch": steps_per_epoch,
            "loss_curve": [float(v) for v in history.history["loss"]],
            "reached": final < threshold}
