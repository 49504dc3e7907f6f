"""Image tasks: classification (images -> class probabilities) and autoencoders (images
-> their reconstruction in [0, 1]). Images come in as float32 pixels in [0, 255]; the
model normalizes them itself."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from kdl.data.images import decode_images
from kdl.tasks.base import DataBundle, Task, TestOutputs, classification_outputs, register_task

if TYPE_CHECKING:
    import keras


def _limit(arrays, n):
    return arrays if n is None else (arrays[0][:n], arrays[1][:n])


def labeled_limit(recipe) -> int | None:
    """How many training examples the supervised fit sees: ``max_train_examples``, cut to
    ``max_labeled_examples`` (pretraining and normalization see the former)."""
    limits = [n for n in (recipe.max_train_examples, recipe.max_labeled_examples) if n]
    return min(limits) if limits else None


class ImageTask(Task):
    """Images in, as float32 pixels in [0, 255]; the model normalizes them itself."""

    signatures = ("serving_default", "serving_float", "serving_bytes")
    figures_use_test_outputs = True
    image_data = True
    feeds_without_tf_data = True

    def load_data(self, recipe):
        """The recipe's :class:`kdl.data.ImageDataset`. Sources decoded lazily (folders)
        bring every image to the recipe's ``image_size`` (default: the model's own input)
        and to the model's channels. With ``label_noise``, that fraction of the training
        labels is replaced by random ones (:func:`kdl.data.dataset.with_label_noise`)."""
        from kdl.data import load_image_dataset
        from kdl.data.dataset import with_label_noise

        ds = load_image_dataset(recipe.data, validation_fraction=recipe.validation_fraction,
                                seed=recipe.seed, image_shape=self.image_shape_hint(recipe))
        return with_label_noise(ds, recipe.label_noise, recipe.seed)

    def image_shape_hint(self, recipe) -> tuple:
        """(H, W, C) for sources without a shape of their own: the recipe's ``image_size``,
        else the builder's default ``input_shape``; C None where the builder has none."""
        import inspect

        from kdl.models._registry import get_model_builder

        default = inspect.signature(get_model_builder(recipe.model)).parameters.get("input_shape")
        default = tuple(default.default) if default is not None and isinstance(
            default.default, tuple) else ()
        size = tuple(recipe.image_size) if recipe.image_size else default[:2]
        if len(size) != 2:
            return None
        return (*size, default[2] if len(default) == 3 else None)

    def check_data(self, recipe) -> dict:
        """The data can be had, and the recipe's augmentation builds for its images (each
        layer's own validation of its values). Returns the data's fingerprint."""
        from kdl.data.augment import build_augmentation

        ds = self.load_data(recipe)
        build_augmentation(recipe.augmentation, ds.image_shape, seed=recipe.seed)
        shape = (*recipe.image_size, ds.image_shape[-1]) if recipe.image_size else ds.image_shape
        self.check_model_args(recipe, shape, ds.num_classes)
        return {**ds.fingerprint, "image_shape": list(ds.image_shape)}

    def builder_args(self, shape, classes: int) -> dict:
        """The builder arguments this task sets from the data, for :meth:`check_model_args`."""
        return {"input_shape": shape, "classes": classes}

    def check_model_args(self, recipe, shape, classes: int) -> None:
        """The builder's own validation of ``model_args``' values, run before anything is
        written: the network is built once at the data's shape and thrown away."""
        from kdl.errors import ConfigError
        from kdl.models import get_model

        try:
            get_model(recipe.model, **self.builder_args(shape, classes), **recipe.model_args)
        except (TypeError, ValueError) as e:
            message = " ".join(str(e).split()).split(" Received:")[0]
            raise ConfigError(f"model_args: {message} Received: model_args="
                              f"{recipe.model_args!r}") from None

    def batch_targets(self, images, labels):
        """One batch's ``(inputs, targets)``: the labels, for a classifier."""
        return images, labels

    def targets(self, pipeline):
        return pipeline

    def prepare_data(self, recipe) -> DataBundle:
        from kdl.data.augment import build_augmentation
        from kdl.platform import input_pipeline_for

        ds = self.load_data(recipe)
        augmentation = build_augmentation(recipe.augmentation, ds.image_shape, seed=recipe.seed)
        if input_pipeline_for(recipe) == "pydataset":
            return self._feed(recipe, ds, augmentation)
        import tensorflow as tf

        from kdl.data import make_pipeline

        if ds.arrays is not None:
            train_arrays = _limit(ds.arrays["train"], recipe.max_train_examples)
            test_arrays = _limit(ds.arrays["test"], recipe.max_test_examples)
            val_arrays = _limit(ds.arrays["validation"], recipe.max_test_examples)
            # Arrays go to the pipeline as they are: it gathers whole batches by index.
            train = _limit(train_arrays, labeled_limit(recipe))
            validation, test = val_arrays, test_arrays
            n_train = len(train[1])
            normalization = tf.data.Dataset.from_tensor_slices(train_arrays)
        elif ds.files is not None:  # paths, decoded in the pipeline after shuffling
            train_arrays = None
            limits = {"train": labeled_limit(recipe), "validation": recipe.max_test_examples,
                      "test": recipe.max_test_examples}
            train, validation, test = (
                tf.data.Dataset.from_tensor_slices(
                    (tf.constant(list(ds.files[k][0])[:limits[k]], tf.string),
                     tf.constant(list(ds.files[k][1])[:limits[k]], tf.int64)))
                for k in ("train", "validation", "test"))
            n_train = int(train.cardinality())
            normalization = train.map(ds.decode, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            train_arrays = None
            train, validation, test = ds.train, ds.validation, ds.test
            if labeled_limit(recipe):
                train = train.take(labeled_limit(recipe))
            if recipe.max_test_examples:
                test = test.take(recipe.max_test_examples)
                validation = validation.take(recipe.max_test_examples)
            n_train = int(train.cardinality())
            normalization = train

        def pipe(split, training):
            return self.targets(make_pipeline(
                split, recipe.batch_size, training=training,
                augmentation=augmentation if training else None, seed=recipe.seed,
                deterministic=recipe.deterministic, decode=ds.decode))

        return DataBundle(pipe(train, True), pipe(validation, False), pipe(test, False),
                          ds.image_shape, ds.num_classes, ds.class_names,
                          max(1, -(-n_train // recipe.batch_size)), train_arrays=train_arrays,
                          normalization=normalization, fingerprint=ds.fingerprint)

    def _feed(self, recipe, ds, augmentation) -> DataBundle:
        """The splits through Keras' PyDataset (:class:`kdl.data.ArrayFeed`), no tf.data."""
        from kdl.data import ArrayFeed
        from kdl.errors import DataError

        if ds.arrays is None:
            raise DataError(f"input_pipeline 'pydataset' feeds data held in memory (IDX, CIFAR, "
                            f"npz); {ds.source} is decoded from files by tf.data. "
                            f"Received: data={recipe.data!r}")
        everything = _limit(ds.arrays["train"], recipe.max_train_examples)
        splits = {"train": _limit(everything, labeled_limit(recipe)),
                  "validation": _limit(ds.arrays["validation"], recipe.max_test_examples),
                  "test": _limit(ds.arrays["test"], recipe.max_test_examples)}
        train, validation, test = (
            ArrayFeed(*splits[k], recipe.batch_size, training=k == "train",
                      augmentation=augmentation, seed=recipe.seed, targets=self.batch_targets)
            for k in ("train", "validation", "test"))
        return DataBundle(train, validation, test, ds.image_shape, ds.num_classes,
                          ds.class_names, len(train), train_arrays=everything,
                          normalization=everything[0], fingerprint=ds.fingerprint)

    def preprocess(self, recipe, data: DataBundle):
        """The model's input and its preprocessing: (input, preprocessed tensor)."""
        import keras
        from kdl.data import normalization_layer
        from kdl.models._weights import input_front

        inputs = keras.Input(shape=data.input_shape, name="image")
        adapted = None
        if recipe.normalization in ("channel", "pixel") and data.normalization is not None:
            adapted = normalization_layer(data.normalization, per=recipe.normalization)
        x = input_front(inputs, normalization=recipe.normalization, image_size=recipe.image_size,
                        normalization_layer=adapted)
        return inputs, x

    def outputs(self, y, top_k: int, class_names=None):
        raise NotImplementedError

    def add_endpoints(self, archive, model: keras.Model, vocabulary=None, top_k: int = 5,
                      class_names=None) -> None:
        import tensorflow as tf

        shape = [None] + list(model.input_shape[1:])

        def from_float(images):
            return self.outputs(model(images, training=False), top_k, class_names)

        def from_uint8(images):
            return from_float(tf.cast(images, tf.float32))

        def from_bytes(encoded):
            return from_float(decode_images(encoded, shape[1:]))

        archive.add_endpoint("serving_default", from_uint8,
                             input_signature=[tf.TensorSpec(shape, tf.uint8, name="images")])
        archive.add_endpoint("serving_float", from_float,
                             input_signature=[tf.TensorSpec(shape, tf.float32, name="images")])
        archive.add_endpoint("serving_bytes", from_bytes,
                             input_signature=[tf.TensorSpec([None], tf.string, name="images")])

    def export_metadata(self, data: DataBundle) -> dict:
        return {"class_names": list(data.class_names)}

    def weights_front(self, recipe) -> dict:
        size = list(recipe.image_size) if recipe.image_size else None
        return {"normalization": recipe.normalization, "image_size": size, "nested": False}


@register_task
class ClassificationTask(ImageTask):
    name = "classification"
    classifier = True
    model_args_from_data = {
        "input_tensor": "the recipe's input (its data, image_size and normalization)",
        "input_shape": "the data's image shape (set image_size to resize)",
        "classes": "the number of classes in the data"}

    def build_model(self, recipe, data: DataBundle) -> keras.Model:
        import keras
        from kdl.models import get_model
        from kdl.platform import precision_for

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

    def outputs(self, y, top_k: int, class_names=None):
        return classification_outputs(y, top_k, class_names)

    def figures(self, outputs: TestOutputs, out: str, numbers: dict) -> list[tuple[str, str]]:
        from kdl import plots

        labels, probabilities = outputs.labels, outputs.outputs
        matrix = plots.confusion_matrix(labels, probabilities.argmax(-1), probabilities.shape[-1])
        plots.plot_confusion(matrix, outputs.class_names,
                             os.path.join(out, "confusion_matrix.png"))
        shown = plots.plot_mistakes(outputs.images, labels, probabilities, outputs.class_names,
                                    os.path.join(out, "mistakes.png"))
        numbers.update({
            "class_names": [str(c) for c in outputs.class_names],
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
    model_args_from_data = {"input_shape": "the data's image shape (set image_size to resize)"}

    def builder_args(self, shape, classes: int) -> dict:
        return {"input_shape": shape}

    def batch_targets(self, images, labels):
        return images, images / 255.0  # targets: the clean image in [0, 1]

    def targets(self, pipeline):
        return pipeline.map(self.batch_targets)

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

    def outputs(self, y, top_k: int, class_names=None):
        import tensorflow as tf

        return {"reconstruction": tf.cast(y, tf.float32)}

    def figures(self, outputs: TestOutputs, out: str, numbers: dict) -> list[tuple[str, str]]:
        from kdl import plots

        plots.plot_reconstructions(outputs.images, outputs.outputs,
                                   os.path.join(out, "reconstructions.png"))
        return [("reconstructions.png", "test images and their reconstructions")]

    def tunes_hidden_units(self) -> bool:
        return False  # the code size and the mirrored decoder hang on them

    def weights_front(self, recipe) -> dict:
        # As build_model: the input scaled to [0, 1], the network a nested model.
        size = list(recipe.image_size) if recipe.image_size else None
        return {"normalization": "scale", "image_size": size, "nested": True}
