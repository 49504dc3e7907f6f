"""The text task: character ids -> next-character logits (the char-RNN generator)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kdl.tasks.base import DataBundle, Task, classification_outputs, register_task

if TYPE_CHECKING:
    import keras


@register_task
class CharRNNTask(Task):
    name = "char_rnn"
    signatures = ("serving_default", "serving_ids")
    input_dtype = "int32"
    model_args_from_data = {"vocabulary_size": "the corpus's characters"}

    @staticmethod
    def _source(recipe) -> str:
        return recipe.data.split(":", 1)[1] if recipe.data.startswith("text:") else recipe.data

    def check_data(self, recipe) -> dict:
        from kdl.data import load_text_corpus

        load_text_corpus(self._source(recipe), max_chars=1000)
        return {"source": self._source(recipe)}

    def prepare_data(self, recipe) -> DataBundle:
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

    def add_endpoints(self, archive, model: keras.Model, vocabulary=None, top_k: int = 5,
                      class_names=None) -> None:
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
            return classification_outputs(tf.nn.softmax(last), top_k)

        def from_ids(ids):
            logits = model(ids, training=False)
            return classification_outputs(tf.nn.softmax(logits[:, -1]), top_k)

        archive.add_endpoint("serving_default", from_text,
                             input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        archive.add_endpoint("serving_ids", from_ids,
                             input_signature=[tf.TensorSpec([None, None], tf.int32, name="ids")])

    def export_metadata(self, data: DataBundle) -> dict:
        return {"class_names": None, "vocabulary": list(data.vocabulary)}
