"""The task registry and the base class every task fills in (see :mod:`kdl.tasks`)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from kdl._names import unknown_name_message

if TYPE_CHECKING:  # Keras is imported where it is used: recipes check their task cheaply
    import keras


@dataclasses.dataclass
class DataBundle:
    train: object
    validation: object
    test: object
    input_shape: tuple
    num_classes: int
    class_names: tuple
    steps_per_epoch: int
    vocabulary: tuple | None = None
    train_arrays: tuple | None = None
    normalization: object = None
    fingerprint: dict = dataclasses.field(default_factory=dict)  # which data, how split


@dataclasses.dataclass
class TestOutputs:
    """A trained model on the test split, in order: what a report draws."""

    images: np.ndarray
    labels: np.ndarray
    outputs: np.ndarray
    class_names: tuple


class Task:
    """The base: what every task must say. Subclasses are registered by name."""

    name: str = ""
    # Whether `data` is an image source spec (kdl.data.sources: a name or SOURCE:PATH).
    image_data: bool = False
    # Whether prepare_data can feed through Keras' PyDataset (kdl.data.feed), without tf.data.
    feeds_without_tf_data: bool = False
    classifier: bool = False  # class probabilities out (test-time flip, activation monitor, ...)
    curve_metric: str = "accuracy"  # the metric the report's curves show beside the loss
    signatures: tuple[str, ...] = ("serving_default",)
    # The dtype of the model's own input (a SavedModel of a JAX model's forward pass is
    # traced with it).
    input_dtype: str = "float32"
    # Whether the report's task figures need the model's outputs on the test split.
    figures_use_test_outputs: bool = False
    # The builder arguments this task sets itself from the data (a recipe's model_args
    # may not): for the message that says where they come from.
    model_args_from_data: dict[str, str] = {}

    def check_data(self, recipe) -> dict:
        """Raise (one line) unless the recipe's data can be had; return its fingerprint."""
        raise NotImplementedError

    def prepare_data(self, recipe) -> DataBundle:
        raise NotImplementedError

    def build_model(self, recipe, data: DataBundle) -> keras.Model:
        raise NotImplementedError

    def loss_and_metrics(self, recipe):
        raise NotImplementedError

    def finish_metrics(self, metrics: dict) -> dict:
        """Test metrics derived from the evaluated ones."""
        return metrics

    def add_endpoints(self, archive, model: keras.Model, vocabulary=None, top_k: int = 5,
                      class_names=None) -> None:
        raise NotImplementedError

    def export_metadata(self, data: DataBundle) -> dict:
        return {"class_names": None}

    def figures(self, outputs: TestOutputs, out: str, numbers: dict) -> list[tuple[str, str]]:
        """Task-specific figures of the test split's ``outputs``, written into ``out`` (through
        :mod:`kdl.plots`), their numbers added to ``numbers``; returns (file, caption) pairs."""
        return []

    def tunes_hidden_units(self) -> bool:
        return True

    def weights_front(self, recipe) -> dict | None:
        """What a card's weights entry keeps of the preprocessing this task puts before the
        network (:func:`kdl.models._weights.build_card_model`); None: weights not shipped."""
        return None


_TASKS: dict[str, Task] = {}


def register_task(cls):
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    if cls.name in _TASKS:
        raise ValueError(f"A task named '{cls.name}' is already registered. Received: name={cls.name!r}")
    _TASKS[cls.name] = cls()
    return cls


def get_task(name: str) -> Task:
    if name not in _TASKS:
        raise ValueError(unknown_name_message("task", name, _TASKS))
    return _TASKS[name]


def list_tasks() -> list[str]:
    return sorted(_TASKS)


def classification_outputs(probabilities, top_k: int, class_names=None):
    """A classifier's serving answer; with ``class_names``, also the names of the top-1
    class (``class_names``) and of the top k (``top_k_class_names``) as strings."""
    import tensorflow as tf

    probabilities = tf.cast(probabilities, tf.float32)
    k = min(top_k, probabilities.shape[-1])
    out = {
        "probabilities": probabilities,
        "class_ids": tf.argmax(probabilities, axis=-1, output_type=tf.int64),
        "top_k_class_ids": tf.cast(tf.math.top_k(probabilities, k=k).indices, tf.int64),
    }
    if class_names is not None:
        names = tf.constant([str(n) for n in class_names], dtype=tf.string)
        out["class_names"] = tf.gather(names, out["class_ids"])
        out["top_k_class_names"] = tf.gather(names, out["top_k_class_ids"])
    return out
