"""Rosenblatt's perceptron (1958), the course's first model, trained by its own rule.

``y = step(w . x + b)`` with ``step(z) = 1 if z >= 0 else 0``. ``fit`` does not descend
a gradient (the step has none): each batch moves the weights by the perceptron rule
``w += lr * sum (y - y_hat) x``, ``b += lr * sum (y - y_hat)``, which changes them only
on mistakes, and logs ``errors``, the fraction of misclassified examples. With
``batch_size=1`` this is the classic online rule; it converges on linearly separable
data (Novikoff 1962) and never on XOR (Minsky and Papert 1969), which a two-layer
network solves: ``kdl experiment perceptron_xor`` shows both.

    >>> model = kdl.models.get_model("perceptron", input_shape=(2,))
    >>> model.compile()
    >>> model.fit(x, y, batch_size=1, epochs=20)
"""

from __future__ import annotations

import keras
from keras import ops

from kdl.models._common import check_initializer
from kdl.models._registry import register_model


@keras.saving.register_keras_serializable(package="kdl")
class Perceptron(keras.Model):
    """One threshold unit per output, trained by the perceptron rule (see the module)."""

    def __init__(self, units: int = 1, learning_rate: float = 1.0,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive integer. Received: units={units!r}")
        if not learning_rate > 0:
            raise ValueError(f"`learning_rate` must be positive. Received: learning_rate={learning_rate!r}")
        check_initializer("kernel_initializer", kernel_initializer)
        self.units = units
        self.learning_rate = float(learning_rate)
        self.kernel_initializer = kernel_initializer
        self.unit = keras.layers.Dense(units, kernel_initializer=kernel_initializer, name="unit")
        self.error_tracker = keras.metrics.Mean(name="errors")  # averaged over the epoch

    @property
    def metrics(self):
        return [self.error_tracker]

    def build(self, input_shape):
        self.unit.build(input_shape)
        self.built = True

    def call(self, inputs):
        return ops.cast(ops.greater_equal(self.unit(inputs), 0.0), self.compute_dtype)

    def _errors(self, x, y, y_hat):
        return ops.reshape(ops.cast(y, self.compute_dtype), ops.shape(y_hat)) - y_hat

    # TensorFlow and PyTorch: variables are assigned in place.
    def _stateful_step(self, data, update: bool):
        x, y = ops.cast(data[0], self.compute_dtype), data[1]
        error = self._errors(x, y, self(x))
        if update:
            self.unit.kernel.assign_add(self.learning_rate * ops.matmul(ops.transpose(x), error))
            self.unit.bias.assign_add(self.learning_rate * ops.sum(error, axis=0))
        self.error_tracker.update_state(ops.mean(ops.abs(error), axis=-1))
        return {"errors": self.error_tracker.result()}

    # JAX: the trainer passes the variables' values in and takes the new ones back.
    def _stateless_step(self, state, data, update: bool):
        if update:
            trainable, non_trainable, optimizer_vars, metrics_vars = state
        else:
            trainable, non_trainable, metrics_vars = state
        x, y = ops.cast(data[0], self.compute_dtype), data[1]
        y_hat, non_trainable = self.stateless_call(trainable, non_trainable, x)
        error = self._errors(x, y, y_hat)
        if update:
            trainable = list(trainable)
            index = {id(v): i for i, v in enumerate(self.trainable_variables)}
            k, b = index[id(self.unit.kernel)], index[id(self.unit.bias)]
            trainable[k] = trainable[k] + self.learning_rate * ops.matmul(ops.transpose(x), error)
            trainable[b] = trainable[b] + self.learning_rate * ops.sum(error, axis=0)
        metrics_vars = self.error_tracker.stateless_update_state(
            metrics_vars, ops.mean(ops.abs(error), axis=-1))
        logs = {"errors": self.error_tracker.stateless_result(metrics_vars)}
        if update:
            return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)
        return logs, (trainable, non_trainable, metrics_vars)

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._stateless_step(*args, update=True)
        return self._stateful_step(*args, update=True)

    def test_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._stateless_step(*args, update=False)
        return self._stateful_step(*args, update=False)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "learning_rate": self.learning_rate,
                "kernel_initializer": self.kernel_initializer}


@register_model()
def perceptron(input_shape=(2,), units: int = 1, learning_rate: float = 1.0,
               kernel_initializer="glorot_uniform", name: str = "perceptron") -> Perceptron:
    """A built :class:`Perceptron` on inputs of ``input_shape`` (flat features)."""
    model = Perceptron(units, learning_rate, kernel_initializer, name=name)
    model.build((None, *tuple(input_shape)))
    return model
