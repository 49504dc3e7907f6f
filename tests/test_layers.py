"""kdl.layers: the Keras layer contract, and the numbers against hand computations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kdl.layers import (BatchNormalization, Flip, LocalResponseNormalization, MaskingNoise, WeightNormalization,
                        ZeroPadShortcut, initialize_weight_norm, with_test_time_flip)

RNG = np.random.default_rng(0)
# Backend tensors to numpy on every backend (a torch tensor that requires grad has no __array__).
_np = keras.ops.convert_to_numpy


def _round_trip(layer, x, tmp_path):
    """Config round trip and .keras save/reload inside a model give the same outputs."""
    again = type(layer).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    inputs = keras.Input(shape=x.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), reloaded.predict(x, verbose=0),
                               atol=1e-6)
    return model


@pytest.mark.parametrize("inner", [
    lambda: keras.layers.Dense(7, activation="relu"),
    lambda: keras.layers.Conv2D(5, 3, strides=2, padding="same"),
    lambda: keras.layers.Conv1D(4, 3, dilation_rate=2),
])
def test_weight_norm_equals_g_v_over_norm_v(inner, tmp_path):
    layer = WeightNormalization(inner())
    x = RNG.random((6, 8, 8, 3) if "2D" in type(inner()).__name__ else
                   (6, 10, 3) if "1D" in type(inner()).__name__ else (6, 9)).astype("float32")
    y0 = layer(x)
    # Freshly wrapped: g = ||v||, so it computes what the plain layer computes.
    plain = layer.layer
    np.testing.assert_allclose(_np(y0), _np(plain(x)), rtol=1e-4, atol=1e-5)
    # Now change g and check against the hand computation of w = g v / ||v||.
    g = RNG.random(layer.g.shape).astype("float32") + 0.5
    layer.g.assign(g)
    v = _np(plain.kernel)
    w = g * v / np.sqrt(np.sum(v**2, axis=tuple(range(v.ndim - 1))))
    saved = v.copy()
    plain.kernel.assign(w)
    expected = plain(x)
    plain.kernel.assign(saved)
    np.testing.assert_allclose(_np(layer(x)), _np(expected), rtol=1e-4, atol=1e-5)
    _round_trip(layer, x, tmp_path)


def test_weight_norm_trains_g_and_v():
    model = keras.Sequential([keras.Input((5,)), WeightNormalization(keras.layers.Dense(3))])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = RNG.random((32, 5)).astype("float32"), RNG.random((32, 3)).astype("float32")
    layer = model.layers[0]
    g0, v0 = _np(layer.g).copy(), _np(layer.layer.kernel).copy()
    loss = model.fit(x, y, epochs=3, verbose=0).history["loss"]
    assert loss[-1] < loss[0] and np.all(np.isfinite(loss))
    assert not np.allclose(g0, _np(layer.g)) and not np.allclose(v0, _np(layer.layer.kernel))
    assert {w.name for w in layer.trainable_weights} >= {"g", "kernel", "bias"}


def test_weight_norm_data_dependent_init_standardizes_preactivations():
    x = (RNG.normal(size=(256, 12)) * 4 + 3).astype("float32")
    inputs = keras.Input((12,))
    first = WeightNormalization(keras.layers.Dense(16, activation="relu"), data_init=True)
    second = WeightNormalization(keras.layers.Dense(8), data_init=True)
    model = keras.Model(inputs, second(first(inputs)))
    assert initialize_weight_norm(model, x) == 2
    for layer, layer_in in ((first, x), (second, _np(first(x)))):
        kernel = _np(layer.layer.kernel)
        pre = layer_in @ (_np(layer.g) * kernel / np.linalg.norm(kernel, axis=0))
        pre = pre + _np(layer.layer.bias)
        np.testing.assert_allclose(pre.mean(axis=0), 0.0, atol=1e-3)
        np.testing.assert_allclose(pre.std(axis=0), 1.0, atol=1e-3)


def test_weight_norm_refuses_what_it_cannot_wrap():
    with pytest.raises(ValueError, match="Received: layer="):
        WeightNormalization(keras.layers.LSTM(3))
    with pytest.raises(ValueError, match="use_bias=False"):
        WeightNormalization(keras.layers.Dense(3, use_bias=False), data_init=True)


def backend_gradient(fn, x, upstream):
    """d sum(fn(x) * upstream) / dx by the running Keras backend's autodiff."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return _np(jax.grad(lambda t: (fn(t) * upstream).sum())(x))
    if backend == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        (fn(t) * torch.tensor(upstream)).sum().backward()
        return t.grad.cpu().numpy()
    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        out = tf.reduce_sum(fn(t) * upstream)
    return tape.gradient(out, t).numpy()


@pytest.mark.parametrize("radius, bias, alpha, beta", [(2, 2.0, 1e-4, 0.75), (1, 1.0, 0.5, 0.5),
                                                       (3, 1.5, 0.01, 0.9), (2, 1.0, 0.1, 1.0)])
def test_lrn_equals_tensorflow(radius, bias, alpha, beta, tmp_path):
    x = (RNG.random((2, 5, 5, 11)) * 10).astype("float32")
    layer = LocalResponseNormalization(radius, bias, alpha, beta)

    def tf_lrn(t):
        return tf.nn.local_response_normalization(t, depth_radius=radius, bias=bias,
                                                  alpha=alpha, beta=beta)

    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), tf_lrn(x), rtol=1e-5)
    # The gradient too (kdl computes d ** -beta its own way for beta 0.5, 0.75 and 1),
    # by the running backend's autodiff against TensorFlow's.
    upstream = RNG.normal(size=x.shape).astype("float32")
    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        out = tf.reduce_sum(tf_lrn(t) * upstream)
    np.testing.assert_allclose(backend_gradient(layer, x, upstream), tape.gradient(out, t).numpy(),
                               rtol=1e-4, atol=1e-6)
    model = _round_trip(layer, x, tmp_path)
    # One training step through it (no weights of its own, but gradients must flow).
    dense = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Conv2D(4, 1), layer])
    dense.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(dense.train_on_batch(x, np.zeros((2, 5, 5, 4))))
    assert model.output_shape == (None, 5, 5, 11)


def test_zero_pad_shortcut():
    x = RNG.random((2, 8, 8, 16)).astype("float32")
    y = _np(ZeroPadShortcut(32, 2)(x))
    assert y.shape == (2, 4, 4, 32)
    np.testing.assert_array_equal(y[..., 8:24], x[:, ::2, ::2, :])
    assert not y[..., :8].any() and not y[..., 24:].any()


def test_masking_noise_zeroes_a_fraction_only_in_training():
    x = np.ones((200, 50), "float32")
    layer = MaskingNoise(0.3, seed=1)
    np.testing.assert_array_equal(_np(layer(x)), x)
    y = _np(layer(x, training=True))
    assert set(np.unique(y)) <= {0.0, 1.0}
    assert abs((y == 0).mean() - 0.3) < 0.02


def test_flip_reverses_one_axis_always(tmp_path):
    x = RNG.random((2, 4, 5, 3)).astype("float32")
    layer = Flip(2)
    np.testing.assert_array_equal(_np(layer(x)), x[:, :, ::-1, :])
    np.testing.assert_array_equal(_np(layer(x, training=True)), x[:, :, ::-1, :])
    np.testing.assert_array_equal(_np(Flip(1)(x)), x[:, ::-1, :, :])
    _round_trip(layer, x, tmp_path)
    with pytest.raises(ValueError, match="Received: axis=0"):
        Flip(0)


def test_test_time_flip_averages_the_two_predictions(tmp_path):
    inputs = keras.Input(shape=(6, 6, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    base = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    images = RNG.random((5, 6, 6, 1)).astype("float32")
    expected = (base.predict(images, verbose=0)
                + base.predict(images[:, :, ::-1, :], verbose=0)) / 2
    tta = with_test_time_flip(base)
    assert tta.count_params() == base.count_params()  # shares the weights, adds none
    np.testing.assert_allclose(tta.predict(images, verbose=0), expected, atol=1e-6)
    # A mirror-symmetric input gives exactly the base model's prediction.
    symmetric = (images + images[:, :, ::-1, :]) / 2
    np.testing.assert_allclose(tta.predict(symmetric, verbose=0),
                               base.predict(symmetric, verbose=0), atol=1e-6)
    tta.save(tmp_path / "tta.keras")
    again = keras.saving.load_model(tmp_path / "tta.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(images, verbose=0), expected, atol=1e-6)
    with pytest.raises(ValueError, match="Received: axis=4"):
        with_test_time_flip(base, axis=4)


@pytest.mark.parametrize("shape,dtype", [((4, 5, 5, 3), "float32"), ((8, 7, 6, 16), "float32"),
                                         ((8, 6, 6, 4), "mixed_bfloat16")])
def test_batch_normalization_is_keras_numbers_on_its_fast_path(shape, dtype, tmp_path):
    x = (RNG.normal(size=shape) * 3 + 10).astype("float32")  # a mean far from 0
    upstream = RNG.normal(size=shape).astype("float32")
    layers = [BatchNormalization(momentum=0.9, dtype=dtype),
              keras.layers.BatchNormalization(momentum=0.9, dtype=dtype)]
    results = []
    for layer in layers:
        layer.build(shape)
        layer.gamma.assign(np.linspace(0.5, 1.5, shape[-1]).astype("float32"))
        layer.beta.assign(np.linspace(-1, 1, shape[-1]).astype("float32"))
        if keras.backend.backend() == "tensorflow":
            inputs = tf.constant(x)
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                y = layer(inputs, training=True)
                loss = tf.reduce_sum(tf.cast(y, "float32") * upstream)
            grads = [_np(g) for g in tape.gradient(loss, [inputs, layer.gamma, layer.beta])]
        else:
            y, grads = layer(x, training=True), []
        results.append((_np(keras.ops.cast(y, "float32")), grads,
                        _np(layer.moving_mean), _np(layer.moving_variance),
                        _np(keras.ops.cast(layer(x, training=False), "float32"))))
    atol = 1e-4 if dtype == "float32" else 5e-2
    for ours, keras_own in zip(*results, strict=True):
        if isinstance(ours, list):
            for a, b in zip(ours, keras_own, strict=True):
                np.testing.assert_allclose(a, b, atol=atol * 10, rtol=1e-3)
        else:
            np.testing.assert_allclose(ours, keras_own, atol=atol, rtol=1e-3)
    # The comparison above is of two code paths only where the fast path runs.
    assert layers[0]._fast_path(x, True, None) == (keras.backend.backend() == "tensorflow")
    assert not layers[0]._fast_path(x, False, None)
    assert not BatchNormalization(axis=1)._fast_path(x, True, None)
    _round_trip(BatchNormalization(), x, tmp_path)


def test_importing_kdl_layers_is_enough_to_load_a_model_compiled_with_kdls_loss(tmp_path):
    import subprocess
    import sys

    from kdl.losses import SparseCategoricalCrossentropyWithSmoothing

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile(loss=SparseCategoricalCrossentropyWithSmoothing(label_smoothing=0.1))
    model.save(tmp_path / "m.keras")
    load = ("import kdl.layers, keras; m = keras.saving.load_model(r'%s'); "
            "print(type(m.loss).__name__)" % (tmp_path / "m.keras"))
    out = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "SparseCategoricalCrossentropyWithSmoothing"
