"""What a recipe's ``task`` decides, in one class per task: its data, its model's input and
head, its loss and metrics, its extra test metrics, its export signatures, its report
figures and its search space. The engine, the export, the report and the tuner ask the
task; none of them branches on the task's name. A new task is one registered class.

    classification   images -> class probabilities (the image classifiers)
    autoencoder      images -> their reconstruction in [0, 1]
    char_rnn         character ids -> next-character logits (the text generator)
"""

from __future__ import annotations

import dataclasses
import os
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


class Task:
    """The base: what every task must say. Subclasses are registered by name."""

    name: str = ""
    classifier: bool = False  # class probabilities out (test-time flip, activation monitor, ...)
    curve_metric: str = "accuracy"  # the metric the report's curves show beside the loss
    signatures: tuple[str, ...] = ("serving_default",)

    def check_data(self, recipe) -> None:
        raise NotImplementedError

    def prepare_data(self, recipe, num_replicas: int = 1) -> DataBundle:
        raise NotImplementedError

    def build_model(self, recipe, data: DataBundle) -> keras.Model:
        raise NotImplementedError

    def loss_and_metrics(self, recipe):
        raise NotImplementedError

    def finish_metrics(self, metrics: dict) -> dict:
        """Test metrics derived from the evaluated ones."""
        return metrics

    def add_endpoints(self, archive, model: keras.Model, vocabulary=None, top_k: int = 5) -> None:
        raise NotImplementedError

    def export_metadata(self, data: DataBundle) -> dict:
        return {"class_names": None}

    def report(self, recipe, workdir: str, out: str, numbers: dict) -> list[tuple[str, str]]:
        """Task-specific figures written into ``out``; returns (file, caption) pairs."""
        return []

    def tunes_hidden_units(self) -> bool:
        return True


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


# --- images -------------------------------------------------------------------------------

def _limit(arrays, n):
    return arrays if n is None else (arrays[0][:n], arrays[1][:n])


def _classification_outputs(probabilities, top_k: int):
    import tensorflow as tf

    probabilities = tf.cast(probabilities, tf.float32)
    k = min(top_k, probabilities.shape[-1])
    return {
        "probabilities": probabilities,
        "class_ids": tf.argmax(probabilities, axis=-1, output_type=tf.int64),
        "top_k_class_ids": tf.cast(tf.math.top_k(probabilities, k=k).indices, tf.int64),
    }


class ImageTask(Task):
    """Images in, as float32 pixels in [0, 255]; the model normalizes them itself."""

    signatures = ("serving_default", "serving_float")

    def check_data(self, recipe) -> None:
        from kdl.data import load_image_dataset

        load_image_dataset(recipe.data, validation_fraction=recipe.validation_fraction,
                           seed=recipe.seed)

    def targets(self, pipeline):
        return pipeline

    def prepare_data(self, recipe, num_replicas: int = 1) -> DataBundle:
        import tensorflow as tf

        from kdl.data import load_image_dataset, make_pipeline
        from kdl.data.augment import build_augmentation

        ds = load_image_dataset(recipe.data, validation_fraction=recipe.validation_fraction,
                                seed=recipe.seed)
        augmentation = build_augmentation(recipe.augmentation, ds.image_shape, seed=recipe.seed)
        if ds.arrays is not None:
            train_arrays = _limit(ds.arrays["train"], recipe.max_train_examples)
            test_arrays = _limit(ds.arrays["test"], recipe.max_test_examples)
            val_arrays = _limit(ds.arrays["validation"], recipe.max_test_examples)
            # Arrays go to the pipeline as they are: it gathers whole batches by index.
            train, validation, test = train_arrays, val_arrays, test_arrays
            n_train = len(train_arrays[1])
        else:
            train_arrays = None
            train, validation, test = ds.train, ds.validation, ds.test
            if recipe.max_train_examples:
                train = train.take(recipe.max_train_examples)
            if recipe.max_test_examples:
                test = test.take(recipe.max_test_examples)
                validation = validation.take(recipe.max_test_examples)
            n_train = int(train.cardinality())

        def pipe(split, training):
            return self.targets(make_pipeline(
                split, recipe.batch_size, training=training,
                augmentation=augmentation if training else None, seed=recipe.seed,
                deterministic=recipe.deterministic))

        return DataBundle(pipe(train, True), pipe(validation, False), pipe(test, False),
                          ds.image_shape, ds.num_classes, ds.class_names,
                          max(1, -(-n_train // recipe.batch_size)), train_arrays=train_arrays,
                          normalization=tf.data.Dataset.from_tensor_slices(train_arrays)
                          if train_arrays is not None else train)

    def preprocess(self, recipe, data: DataBundle):
        """The model's input and its preprocessing: (input, preprocessed tensor)."""
        import keras
        from kdl.data import normalization_layer

        inputs = keras.Input(shape=data.input_shape, name="image")
        x = inputs
        if recipe.normalization == "scale":
            x = keras.layers.Rescaling(1.0 / 255, name="rescale")(x)
        elif recipe.normalization in ("channel", "pixel"):
            x = normalization_layer(data.normalization, per=recipe.normalization)(x)
        if recipe.image_size is not None:
            x = keras.layers.Resizing(*recipe.image_size, name="resize")(x)
        return inputs, x

    def outputs(self, y, top_k: int):
        raise NotImplementedError

    def add_endpoints(self, archive, model: keras.Model, vocabulary=None, top_k: int = 5) -> None:
        import tensorflow as tf

        shape = [None] + list(model.input_shape[1:])

        def from_float(images):
            return self.outputs(model(images, training=False), top_k)

        def from_uint8(images):
            return from_float(tf.cast(images, tf.float32))

        archive.add_endpoint("serving_default", from_uint8,
                             input_signature=[tf.TensorSpec(shape, tf.uint8, name="images")])
        archive.add_endpoint("serving_float", from_float,
                             input_signature=[tf.TensorSpec(shape, tf.float32, name="images")])

    def export_metadata(self, data: DataBundle) -> dict:
        return {"class_names": list(data.class_names)}


@register_task
class ClassificationTask(ImageTask):
    name = "classification"
    classifier = True

    def build_model(self, recipe, data: DataBundle) -> keras.Model:
        import keras
        from kdl.models import get_model
        from kdl.training import precision_for

        inputs, x = self.preprocess(recipe, data)
        model = get_model(recipe.model, input_tensor=x, classes=data.num_classes,
                          **recipe.model_args)
        if precision_for(recipe) != "float32":  # probabilities in float32 for a stable loss
            outputs = keras.layers.Activation("linear", dtype="float32",
                                              name="predictions_float32")(model.output)
            model = keras.Model(model.inputs[0], outputs, name=model.name)
        return model

    def loss_and_metrics(self, recipe):
        from kdl.losses import SparseCategoricalCrossentropyWithSmoothing

        if recipe.label_smoothing:
            return SparseCategoricalCrossentropyWithSmoothing(recipe.label_smoothing), ["accuracy"]
        return "sparse_categorical_crossentropy", ["accuracy"]

    def outputs(self, y, top_k: int):
        return _classification_outputs(y, top_k)

    def report(self, recipe, workdir: str, out: str, numbers: dict) -> list[tuple[str, str]]:
        from kdl import report

        images, labels, outputs, data = report.test_outputs(recipe, workdir)
        matrix = report.confusion_matrix(labels, outputs.argmax(-1), outputs.shape[-1])
        report.plot_confusion(matrix, data.class_names, os.path.join(out, "confusion_matrix.png"))
        shown = report.plot_mistakes(images, labels, outputs, data.class_names,
                                     os.path.join(out, "mistakes.png"))
        numbers.update({
            "class_names": [str(c) for c in data.class_names],
            "confusion_matrix": matrix.tolist(),
            "per_class_accuracy": (np.diag(matrix) / np.maximum(matrix.sum(1), 1)).tolist(),
            "accuracy": float(np.trace(matrix) / matrix.sum()),
            "test_images": int(matrix.sum()),
            "mistakes_shown": shown,
        })
        return [("confusion_matrix.png", "confusion matrix and per-class accuracy (test)"),
                ("mistakes.png", "most confident mistakes (test)")]


@register_task
class AutoencoderTask(ImageTask):
    name = "autoencoder"
    curve_metric = "mae"

    def targets(self, pipeline):
        # Targets: the clean image in [0, 1].
        return pipeline.map(lambda x, y: (x, x / 255.0))

    def build_model(self, recipe, data: DataBundle) -> keras.Model:
        import keras
        from kdl.models import get_model

        # Reconstructions are in [0, 1]: the input is scaled the same way, whatever the
        # recipe's normalization.
        inputs, x = self.preprocess(recipe.replace(normalization="scale"), data)
        net = get_model(recipe.model, input_shape=tuple(x.shape[1:]), **recipe.model_args)
        return keras.Model(inputs, net(x), name=recipe.model)

    def loss_and_metrics(self, recipe):
        return "mse", ["mae"]

    def outputs(self, y, top_k: int):
        import tensorflow as tf

        return {"reconstruction": tf.cast(y, tf.float32)}

    def report(self, recipe, workdir: str, out: str, numbers: dict) -> list[tuple[str, str]]:
        from kdl import report

        images, _, outputs, _ = report.test_outputs(recipe, workdir)
        report.plot_reconstructions(images, outputs, os.path.join(out, "reconstructions.png"))
        return [("reconstructions.png", "test images and their reconstructions")]

    def tunes_hidden_units(self) -> bool:
        return False  # the code size and the mirrored decoder hang on them


# --- text ---------------------------------------------------------------------------------

@register_task
class CharRNNTask(Task):
    name = "char_rnn"
    signatures = ("serving_default", "serving_ids")

    @staticmethod
    def _source(recipe) -> str:
        return recipe.data.split(":", 1)[1] if recipe.data.startswith("text:") else recipe.data

    def check_data(self, recipe) -> None:
        from kdl.data import load_text_corpus

        load_text_corpus(self._source(recipe), max_chars=1000)

    def prepare_data(self, recipe, num_replicas: int = 1) -> DataBundle:
        from kdl.data import load_text_corpus, make_pipeline

        corpus = load_text_corpus(self._source(recipe), max_chars=recipe.max_chars)
        splits = {s: corpus.sequences(recipe.sequence_length, s)
                  for s in ("train", "validation", "test")}
        n_train = int(splits["train"].cardinality())
        pipes = {s: make_pipeline(ds, recipe.batch_size, training=(s == "train"),
                                  seed=recipe.seed, deterministic=recipe.deterministic)
                 for s, ds in splits.items()}
        return DataBundle(pipes["train"], pipes["validation"], pipes["test"],
                          (recipe.sequence_length,), len(corpus.vocabulary), corpus.vocabulary,
                          max(1, -(-n_train // recipe.batch_size)), vocabulary=corpus.vocabulary)

    def build_model(self, recipe, data: DataBundle) -> keras.Model:
        from kdl.models import get_model

        return get_model(recipe.model, vocabulary_size=data.num_classes, **recipe.model_args)

    def loss_and_metrics(self, recipe):
        import keras

        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"]

    def finish_metrics(self, metrics: dict) -> dict:
        return {**metrics, "perplexity": float(np.exp(metrics["loss"]))}

    def add_endpoints(self, archive, model: keras.Model, vocabulary=None, top_k: int = 5) -> None:
        import tensorflow as tf

        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(list(vocabulary)),
                                                tf.range(len(vocabulary), dtype=tf.int64)),
            default_value=0)
        archive.track(table)

        def from_text(text):
            chars = tf.strings.unicode_split(text, "UTF-8")
            ids = tf.cast(table.lookup(chars).to_tensor(default_value=0), tf.int32)
            lengths = tf.cast(chars.row_lengths(), tf.int32)
            logits = model(ids, training=False)
            last = tf.gather(logits, tf.maximum(lengths - 1, 0), axis=1, batch_dims=1)
            return _classification_outputs(tf.nn.softmax(last), top_k)

        def from_ids(ids):
            logits = model(ids, training=False)
            return _classification_outputs(tf.nn.softmax(logits[:, -1]), top_k)

        archive.add_endpoint("serving_default", from_text,
                             input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        archive.add_endpoint("serving_ids", from_ids,
                             input_signature=[tf.TensorSpec([None, None], tf.int32, name="ids")])

    def export_metadata(self, data: DataBundle) -> dict:
        return {"class_names": None, "vocabulary": list(data.vocabulary)}
