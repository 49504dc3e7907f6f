"""kdl.callbacks on every Keras backend (`make test` runs this file on TensorFlow, JAX and
PyTorch): the activation monitor against a hand computation, and the training callbacks
that the engine attaches to every run."""

import keras
import numpy as np
import pytest

from kdl.callbacks import (EpochCounter, EpochProgress, LearningRateLogger, NonFiniteLossError,
                           TerminateOnNaN)
from tests.conftest import tiny_model


def test_activation_monitor_numbers_equal_a_hand_computation():
    from kdl.callbacks import ActivationMonitor

    inputs = keras.Input((3,))
    h = keras.layers.Dense(4, activation="relu", name="h")(inputs)
    t = keras.layers.Dense(3, activation="tanh", name="t")(h)
    s = keras.layers.Dense(2, activation="softplus", name="s")(t)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="predictions")(s))
    w_h = np.array([[1, -1, 0.5, 2], [1, -1, -0.5, 0], [1, -1, 0.2, 1]], "float32")
    model.get_layer("h").set_weights([w_h, np.zeros(4, "float32")])
    w_t = np.array([[5, 0, 1], [0, 0, 1], [1, 0, -1], [0, 1, 0]], "float32")
    model.get_layer("t").set_weights([w_t, np.zeros(3, "float32")])
    model.get_layer("s").set_weights([np.array([[-50, 1], [-50, 1], [-50, 1]], "float32"),
                                      np.zeros(2, "float32")])
    x = np.abs(np.random.default_rng(0).normal(size=(16, 3))).astype("float32") + 0.1
    monitor = ActivationMonitor(x)
    monitor.set_model(model)
    stats = monitor.measure()
    a_h = np.maximum(x @ w_h, 0)
    a_t = np.tanh(a_h @ w_t)
    a_s = np.log1p(np.exp(a_t @ np.array([[-50, 1]] * 3, "float32").reshape(3, 2)))
    assert stats["act/h/dead"] == 0.25  # unit 1 (all -1 weights, positive inputs) never fires
    assert stats["act/h/mean"] == pytest.approx(a_h.mean(), rel=1e-5)
    assert stats["act/h/std"] == pytest.approx(a_h.std(), rel=1e-5)
    assert stats["act/t/saturated"] == pytest.approx(np.mean(np.abs(a_t) >= 0.98))
    assert stats["act/s/dead"] == pytest.approx(np.mean(np.all(a_s <= 0.01, axis=0)))
    live = a_h[:, a_h.std(0) > 0]
    c = np.corrcoef(live, rowvar=False)
    assert stats["act/h/corr"] == pytest.approx(np.abs(c[~np.eye(len(c), dtype=bool)]).mean(),
                                                rel=1e-4)
    assert "act/predictions/mean" not in stats


def test_a_diverged_layer_is_not_counted_alive():
    """NaN activations compare false with every threshold: counted naively, a diverged ReLU
    layer has no dead units. The monitor reports their fraction and NaN instead."""
    from kdl.callbacks import activation_statistics

    a = np.zeros((8, 4))
    a[0, 1] = np.nan
    relu = activation_statistics("relu", a)
    assert relu["nonfinite"] == 1 / 32 and np.isnan(relu["dead"]) and np.isnan(relu["corr"])
    tanh = activation_statistics("tanh", np.full((4, 2), np.inf))
    assert tanh["nonfinite"] == 1.0 and np.isnan(tanh["saturated"]) and "dead" not in tanh
    assert "nonfinite" not in activation_statistics("relu", np.zeros((8, 4)))
    assert activation_statistics("relu", np.zeros((8, 4)))["dead"] == 1.0


@pytest.mark.parametrize("activation", ["selu", "gelu", "swish", "softplus", "elu", "leaky_relu",
                                        "relu6", "hard_sigmoid", "softsign"])
def test_every_rectifier_and_bounded_activation_is_monitored(activation):
    from kdl.callbacks import ActivationMonitor

    model = tiny_model(activation)
    monitor = ActivationMonitor(np.ones((4, 5), "float32"))
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(np.ones((4, 5)), np.zeros(4), epochs=1, verbose=0, callbacks=[monitor])
    keys = set(monitor.history[-1])
    assert {"act/hidden/mean", "act/hidden/corr"} <= keys
    assert "act/hidden/dead" in keys or "act/hidden/saturated" in keys
    assert [h["epoch"] for h in monitor.history] == [-1, 0]  # a pass before the first update


def test_batch_loss_logger_recovers_each_windows_loss_and_a_resume_drops_its_rows(tmp_path):
    """Keras hands each batch's end the epoch's running mean; the logger's rows are the
    windows' own mean losses (checked against train_on_batch from the same weights), and a
    fit that restarts at an epoch drops the rows it will write again."""
    from kdl.callbacks import BatchLossLogger, read_batch_log

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 5)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
        m.compile(keras.optimizers.SGD(0.05), "mse")
        return m

    reference = model()
    per_batch = []
    for _epoch in range(2):
        for b in range(8):
            xb, yb = x[b * 8:(b + 1) * 8], y[b * 8:(b + 1) * 8]
            per_batch.append(float(np.mean((reference.predict(xb, verbose=0) - yb) ** 2)))
            reference.train_on_batch(xb, yb)
    path = str(tmp_path / "batches.csv")
    logged = model()
    logger = BatchLossLogger(path, every=2)
    logged.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[logger])
    rows = read_batch_log(path)
    assert [(r["epoch"], r["batch"], r["step"]) for r in rows] == \
        [(e, b, 8 * e + b) for e in (0, 1) for b in (2, 4, 6, 8)]
    expected = np.array(per_batch).reshape(8, 2).mean(axis=1)
    np.testing.assert_allclose([r["loss"] for r in rows], expected, rtol=2e-4)
    seconds = [r["seconds"] for r in rows]
    assert seconds == sorted(seconds) and seconds[0] > 0
    logged.fit(x, y, batch_size=8, epochs=2, initial_epoch=1, shuffle=False, verbose=0,
               callbacks=[BatchLossLogger(path, every=4)])  # epoch 1 again, as a resume does
    again = read_batch_log(path)
    assert [(r["epoch"], r["batch"]) for r in again] == [(0, 2), (0, 4), (0, 6), (0, 8),
                                                         (1, 4), (1, 8)]
    assert again[4]["seconds"] > rows[3]["seconds"]  # counted on from the kept rows
    with pytest.raises(ValueError, match="Received: every=0"):
        BatchLossLogger(path, every=0)


def test_terminate_on_nan_stops_with_where_and_what_to_try():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(10.0), "mse")  # far past 2 / the curvature: diverges
    x = np.full((64, 5), 10.0, "float32")
    with pytest.raises(NonFiniteLossError, match=r"loss became (nan|inf) at epoch \d+, batch \d+"):
        model.fit(x, np.zeros(64), batch_size=8, epochs=20, verbose=0,
                  callbacks=[TerminateOnNaN()])


def test_counter_logger_and_progress_report_each_epoch():
    model = tiny_model()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model.compile(keras.optimizers.SGD(schedule), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    counter, lines = EpochCounter(), []
    history = model.fit(np.ones((8, 5), "float32"), np.zeros(8), batch_size=4, epochs=2,
                        verbose=0, callbacks=[counter, LearningRateLogger(),
                                              EpochProgress(2, print_fn=lines.append)])
    assert counter.epochs_done == 2 and len(counter.epoch_seconds) == 2
    # Two steps an epoch, the rate halved each step: 0.1 * 0.5**2 after epoch 1, **4 after 2.
    np.testing.assert_allclose(history.history["learning_rate"], [0.025, 0.00625], rtol=1e-5)
    assert lines[0].startswith("epoch 1/2  loss ") and "accuracy" in lines[0]
    assert "lr 2.50e-02" in lines[0] and "ETA" in lines[0] and "ETA" not in lines[1]


def test_live_progress_redraws_one_line_within_the_epoch_and_leaves_the_summary():
    import io

    from kdl.callbacks import EpochProgress, LiveEpochProgress, epoch_progress

    stream, lines = io.StringIO(), []
    live = LiveEpochProgress(2, print_fn=lines.append, batch_size=8, interval=0.0,
                             stream=stream)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.zeros((64, 4), "float32")
    model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0, callbacks=[live])
    drawn = stream.getvalue()
    assert "\r" in drawn and "\n" not in drawn  # redrawn in place, never a new line
    assert "epoch 1/2  step 8/8" in drawn and "img/s" in drawn and "ETA" in drawn
    assert drawn.endswith("\r")  # the live line cleared before each summary
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2  loss")
    assert type(epoch_progress(3, live=False)) is EpochProgress  # no batch hook off a terminal


def test_gradient_monitor_measures_the_loss_gradient_and_leaves_training_alone():
    """On each backend (make test runs this file on all three): the kernel's gradient norm
    is the hand-computed one of a linear model's mean squared error, the update ratio is
    lr * norm / ||W||, and a run with the monitor ends with the weights of one without."""
    import keras

    from kdl.callbacks import GradientMonitor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False, name="linear")])
        m.compile(keras.optimizers.SGD(0.1), "mse")
        return m

    monitored = model()
    w = keras.ops.convert_to_numpy(monitored.get_layer("linear").kernel)
    expected = np.linalg.norm(2 / len(x) * x.T @ (x @ w - y))
    monitor = GradientMonitor(x, y)
    history = monitored.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False,
                            callbacks=[monitor])
    start = monitor.history[0]
    assert start["epoch"] == -1
    assert start["grad/linear/norm"] == pytest.approx(expected, rel=1e-4)
    assert start["grad/linear/update_ratio"] == pytest.approx(0.1 * expected / np.linalg.norm(w),
                                                              rel=1e-4)
    assert len(history.history["grad/linear/norm"]) == 2
    plain = model()
    plain.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(monitored.get_layer("linear").kernel),
                               keras.ops.convert_to_numpy(plain.get_layer("linear").kernel),
                               rtol=1e-6)
