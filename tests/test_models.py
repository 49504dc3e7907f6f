"""Registry-driven model tests: every registered model gets them for free."""

import keras
import numpy as np
import pytest

from kdl import models

# Small inputs per model (the registry's defaults are the canonical, large ones).
SMALL = {
    "alexnet": dict(input_shape=(63, 63, 3), classes=5),
    "vgg11": dict(input_shape=(32, 32, 3), classes=5, fc_units=32, width_multiplier=0.125),
    "vgg13": dict(input_shape=(32, 32, 3), classes=5, fc_units=32, width_multiplier=0.125),
    "vgg16": dict(input_shape=(32, 32, 3), classes=5, fc_units=32, width_multiplier=0.125),
    "vgg19": dict(input_shape=(32, 32, 3), classes=5, fc_units=32, width_multiplier=0.125),
    "resnet18": dict(input_shape=(32, 32, 3), classes=5, width_multiplier=0.25),
    "resnet34": dict(input_shape=(32, 32, 3), classes=5, width_multiplier=0.25),
    "resnet50": dict(input_shape=(32, 32, 3), classes=5, width_multiplier=0.25),
    "resnet101": dict(input_shape=(32, 32, 3), classes=5, width_multiplier=0.25),
    "resnet152": dict(input_shape=(32, 32, 3), classes=5, width_multiplier=0.25),
    "char_rnn": dict(vocabulary_size=20, embedding_dim=8, rnn_units=(16,)),
    "autoencoder": dict(code_size=8, hidden_units=(32,)),
    "conv_autoencoder": dict(filters=(4, 8)),
    "stacked_denoising_autoencoder": dict(hidden_units=(32, 16)),
    "vit_tiny": dict(input_shape=(16, 16, 1), classes=5, patch_size=4, hidden_dim=16, depth=2,
                     num_heads=2, mlp_dim=32),
}
for _n in ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110"):
    SMALL[_n] = dict(input_shape=(16, 16, 1), classes=5, width_multiplier=0.5)
RECONSTRUCTION = {"autoencoder", "conv_autoencoder"}


def _batch(model, name):
    rng = np.random.default_rng(0)
    if name == "char_rnn":
        x = rng.integers(0, 20, size=(4, 12)).astype("int32")
        return x, rng.integers(0, 20, size=(4, 12))
    if name == "perceptron":
        return rng.random((4, 2)).astype("float32"), None
    shape = (4,) + tuple(model.input_shape[1:])
    x = rng.random(shape).astype("float32")
    if name in RECONSTRUCTION:
        return x, x
    return x, rng.integers(0, model.output_shape[-1], size=(4,))


def test_registry_lists_the_course():
    expected = {"mlp", "autoencoder", "conv_autoencoder", "stacked_denoising_autoencoder",
                "lenet5", "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "resnet18",
                "resnet34", "resnet50", "resnet101", "resnet152", "resnet20", "resnet32",
                "resnet44", "resnet56", "resnet110", "char_rnn", "perceptron", "vit_tiny"}
    assert expected <= set(models.list_models())
    assert models.list_models("vgg1*") == ["vgg11", "vgg13", "vgg16", "vgg19"]


def test_unknown_name_names_close_matches():
    with pytest.raises(ValueError, match="resnet50") as info:
        models.get_model("resnet5")
    assert "Received: name='resnet5'" in str(info.value)


def test_duplicate_registration_refused():
    with pytest.raises(ValueError, match="already registered"):
        models.register_model("lenet5")(lambda: None)


# The deeper variants of the same builders (more blocks, the same code) run in make test-slow.
DEEPER = {"resnet32", "resnet44", "resnet56", "resnet110", "resnet34", "resnet101", "resnet152",
          "vgg13", "vgg19"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in DEEPER else n
                                  for n in models.list_models()])
def test_build_train_save_reload(name, tmp_path):
    model = models.get_model(name, **SMALL.get(name, {}))
    x, y = _batch(model, name)
    out = keras.ops.convert_to_numpy(model(x))  # a torch tensor that requires grad has no __array__
    if name == "char_rnn":
        assert tuple(out.shape) == (4, 12, 20)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    elif name in RECONSTRUCTION:
        assert tuple(out.shape) == x.shape
        loss = "mse"
    elif name == "perceptron":  # a threshold unit, trained by its own rule, not a loss
        assert set(np.unique(np.asarray(out))) <= {0.0, 1.0}
        y = (x[:, 0] > x[:, 1]).astype("float32")
        loss = None
    else:
        assert tuple(out.shape) == (4, SMALL.get(name, {}).get("classes", 10))
        np.testing.assert_allclose(np.sum(np.asarray(out), axis=-1), 1.0, rtol=1e-4)
        loss = "sparse_categorical_crossentropy"
    # Eager: tracing deep nets is slow (on JAX too: jit measured slower here than op by op).
    model.compile(optimizer="adam", loss=loss, run_eagerly=True)
    history = model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["errors" if name == "perceptron" else "loss"][0])
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), reloaded.predict(x, verbose=0),
                               atol=1e-6)


@pytest.mark.parametrize(
    "name, kwargs, expected",
    [
        ("lenet5", dict(input_shape=(28, 28, 1), classes=10), 61_706),
        ("alexnet", dict(input_shape=(224, 224, 3), classes=1000), 61_100_840),
        ("vgg16", dict(input_shape=(224, 224, 3), classes=1000), 138_357_544),
        ("vgg19", dict(input_shape=(224, 224, 3), classes=1000), 143_667_240),
        ("resnet50", dict(input_shape=(224, 224, 3), classes=1000), 25_636_712),
        ("resnet50", dict(preact=True), 25_613_800),
        ("vit_tiny", dict(), 5_717_416),  # DeiT-Ti: timm's vit_tiny_patch16_224
    ],
)
def test_pinned_parameter_counts(name, kwargs, expected):
    assert models.get_model(name, **kwargs).count_params() == expected


def test_resnet18_small_stem_matches_the_cifar_resnet18_of_the_literature():
    """3x3 stride-1 stem, no max pool: 11,173,962 trainable parameters at 32x32x3 and 10
    classes, the count of the CIFAR ResNet-18 commonly used (PyTorch counts no BN buffers)."""
    import numpy as np

    small = models.get_model("resnet18", input_shape=(32, 32, 3), classes=10, stem="small")
    trainable = sum(int(np.prod(w.shape)) for w in small.trainable_weights)
    assert trainable == 11_173_962 and small.count_params() == 11_183_562
    assert small.get_layer("conv1_conv").kernel.shape == (3, 3, 3, 64)
    assert small.get_layer("conv2_block1_1_conv").output.shape[1:3] == (32, 32)  # full size
    imagenet = models.get_model("resnet18", input_shape=(32, 32, 3), classes=10)
    assert imagenet.get_layer("conv2_block1_1_conv").output.shape[1:3] == (8, 8)
    with pytest.raises(ValueError, match="stem='tiny'"):
        models.get_model("resnet18", stem="tiny")


@pytest.mark.parametrize(
    "name, application, kwargs",
    [
        ("vgg16", "VGG16", {}),
        ("vgg19", "VGG19", {}),
        ("resnet50", "ResNet50", {}),
        ("resnet101", "ResNet101", {}),
        ("resnet152", "ResNet152", {}),
        ("resnet50", "ResNet50V2", {"preact": True}),
    ],
)
def test_counts_and_names_equal_keras_applications(name, application, kwargs):
    ours = models.get_model(name, **kwargs)
    theirs = getattr(keras.applications, application)(weights=None)
    assert ours.count_params() == theirs.count_params()
    ours_weighted = {layer.name for layer in ours.layers if layer.weights}
    theirs_weighted = {layer.name for layer in theirs.layers if layer.weights}
    assert ours_weighted == theirs_weighted


def test_resnet20_is_the_papers_size():
    model = models.get_model("resnet20", input_shape=(32, 32, 3), classes=10)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert 265_000 < trainable < 275_000  # "0.27M" in He et al. 2016, table 6
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]) == 19


def test_plain_cifar_resnet_has_the_same_weights_and_no_shortcut():
    """shortcut=None: He et al.'s plain net, the residual one's weights without its adds."""
    residual = models.get_model("resnet20", input_shape=(28, 28, 1), classes=10)
    plain = models.get_model("resnet20", input_shape=(28, 28, 1), classes=10, shortcut=None)
    assert plain.count_params() == residual.count_params()
    assert not [layer for layer in plain.layers if isinstance(layer, keras.layers.Add)]
    assert len([layer for layer in residual.layers if isinstance(layer, keras.layers.Add)]) == 9
    assert plain(np.zeros((2, 28, 28, 1), "float32")).shape == (2, 10)
    with pytest.raises(ValueError, match="Received: shortcut='C'"):
        models.get_model("resnet20", shortcut="C")


def test_lenet5_paper_variant_uses_tanh_and_average_pooling():
    model = models.get_model("lenet5", activation="tanh", subsampling="average")
    assert isinstance(model.get_layer("pool1"), keras.layers.AveragePooling2D)
    assert model.get_layer("conv1").activation is keras.activations.tanh
    assert model.count_params() == 61_706


def test_lenet5_batch_norm_after_pooling_is_the_same_function_on_a_quarter_of_the_elements():
    before = models.get_model("lenet5", batch_norm=True)
    after = models.get_model("lenet5", batch_norm=True, batch_norm_position="after_pooling")
    assert after.count_params() == before.count_params()
    names = [layer.name for layer in after.layers]
    assert names.index("pool1") < names.index("conv1_bn") < names.index("conv1_act")
    assert after.get_layer("conv1_bn").input.shape[1:] == (14, 14, 6)
    assert before.get_layer("conv1_bn").input.shape[1:] == (28, 28, 6)
    # Inference with positive scales: max pooling commutes with the affine map and ReLU.
    rng = np.random.default_rng(0)
    for layer in before.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = (w.numpy() for w in layer.weights)
            layer.set_weights([rng.uniform(0.5, 2, gamma.shape), rng.normal(size=beta.shape),
                               rng.normal(size=mean.shape), rng.uniform(0.5, 2, var.shape)])
    after.set_weights(before.get_weights())
    x = rng.random((4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(after(x), before(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch_norm_position='after'"):
        models.get_model("lenet5", batch_norm=True, batch_norm_position="after")


def test_autoencoder_exposes_encoder_and_decoder():
    model = models.get_model("autoencoder", code_size=16)
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    code = model.encoder(x)
    assert tuple(code.shape) == (3, 16)
    np.testing.assert_allclose(model.decoder(code), model(x), atol=1e-6)
    conv = models.get_model("conv_autoencoder", code_size=10)
    assert tuple(conv.encoder(x).shape) == (3, 10)


def test_include_top_false_and_pooling():
    model = models.get_model("resnet20", input_shape=(32, 32, 3), include_top=False,
                             pooling="avg")
    assert model.output_shape == (None, 64)
    model = models.get_model("vgg11", input_shape=(32, 32, 3), include_top=False)
    assert model.output_shape == (None, 1, 1, 512)


def test_weights_path_round_trip(tmp_path):
    model = models.get_model("lenet5")
    path = tmp_path / "lenet5.weights.h5"
    model.save_weights(path)
    again = models.get_model("lenet5", weights=str(path))
    x = np.ones((1, 28, 28, 1), "float32")
    np.testing.assert_allclose(model(x), again(x))


@pytest.mark.parametrize(
    "name, kwargs, fragment",
    [
        ("lenet5", dict(classes=0), "classes=0"),
        ("vgg16", dict(classes=0), "classes=0"),
        ("resnet18", dict(classes=-3), "classes=-3"),
        ("alexnet", dict(input_shape=(32, 32, 3)), "input_shape=(32, 32, 3)"),
        ("vgg16", dict(input_shape=(16, 16, 3)), "input_shape=(16, 16, 3)"),
        ("lenet5", dict(input_shape=(8, 8, 1)), "input_shape=(8, 8, 1)"),
        ("mlp", dict(activation="relux"), "activation='relux'"),
        ("lenet5", dict(activation="nope"), "activation='nope'"),
        ("resnet50", dict(weights="/no/such/file.h5"), "weights='/no/such/file.h5'"),
        ("vgg19", dict(weights="imagenet"), "weights='imagenet'"),
        ("mlp", dict(kernel_initializer="bogus"), "kernel_initializer='bogus'"),
        ("resnet20", dict(pooling="median", include_top=False), "pooling='median'"),
        ("char_rnn", dict(rnn_type="transformer"), "rnn_type='transformer'"),
        ("conv_autoencoder", dict(input_shape=(30, 30, 1)), "input_shape=(30, 30, 1)"),
    ],
)
def test_bad_arguments_name_what_was_received(name, kwargs, fragment):
    with pytest.raises(ValueError) as info:
        models.get_model(name, **kwargs)
    assert fragment in str(info.value)


def test_generate_samples_from_the_vocabulary():
    vocabulary = list("abcdefgh ")
    model = models.get_model("char_rnn", vocabulary_size=len(vocabulary), embedding_dim=4,
                             rnn_units=(8, 8), rnn_type="gru")
    text = models.generate(model, vocabulary, "abc", 25, temperature=1.0, seed=1)
    assert len(text) == 25 and set(text) <= set(vocabulary)
    cold = [models.generate(model, vocabulary, "abc", 15, temperature=0.0, seed=s)
            for s in (1, 2)]
    assert cold[0] == cold[1]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        models.generate(model, vocabulary, "xyz", 5)


def test_generate_matches_the_full_sequence_model():
    """The stateful step-by-step copy computes what the sequence model computes."""
    model = models.get_model("char_rnn", vocabulary_size=6, embedding_dim=4, rnn_units=(8,))
    from kdl.models.char_rnn import stateful_copy

    ids = np.array([[0, 3, 2, 5, 1]], "int32")
    full = np.asarray(model(ids))[0, -1]
    step = stateful_copy(model)
    for i in ids[0]:
        last = step(np.array([[i]], "int32"))
    np.testing.assert_allclose(np.asarray(last)[0, -1], full, atol=1e-5)


@pytest.mark.slow
def test_sdae_greedy_pretraining_on_real_fashion_mnist():
    """Each layer's reconstruction loss falls; pretrained vs scratch on the same budget."""
    from tests.conftest import fashion_mnist_available

    if not fashion_mnist_available():
        pytest.skip("Fashion-MNIST missing")
    from kdl.data import load_image_dataset

    ds = load_image_dataset("fashion_mnist")
    x, y = ds.arrays["train"][0][:8000] / 255.0, ds.arrays["train"][1][:8000]
    xt, yt = ds.arrays["test"][0][:2000] / 255.0, ds.arrays["test"][1][:2000]
    accuracy = {}
    for pretrain in (True, False):
        keras.utils.set_random_seed(0)
        model = models.get_model("stacked_denoising_autoencoder", hidden_units=(256, 128, 64))
        if pretrain:
            report = models.pretrain_stacked_denoising_autoencoder(model, x, epochs_per_layer=2)
            assert [r["layer"] for r in report] == ["sdae_dense_1", "sdae_dense_2",
                                                     "sdae_dense_3"]
            for r in report:
                assert r["loss_after"] < 0.8 * r["loss_before"], r
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, y, epochs=3, batch_size=128, verbose=0)
        accuracy[pretrain] = model.evaluate(xt, yt, verbose=0)[1]
    print(f"SDAE on 8k images, 3 fine-tuning epochs: pretrained {accuracy[True]:.4f}, "
          f"scratch {accuracy[False]:.4f}")
    # Sigmoid stacks train slowly from scratch; pretraining gives them a head start.
    assert accuracy[True] > 0.6 and accuracy[True] >= accuracy[False] - 0.02


def test_import_kdl_is_light():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", "import os, sys, kdl; "
                          "print(os.environ['KERAS_BACKEND'], 'tensorflow' in sys.modules)"],
                         capture_output=True, text=True, timeout=60, env={
                             k: v for k, v in __import__("os").environ.items()
                             if k != "KERAS_BACKEND"})
    # Light means TensorFlow is not imported by `import kdl` (a wall time on a shared
    # machine says nothing): the backend is set, TF waits for the first model.
    assert out.stdout.split() == ["tensorflow", "False"], out.stderr[-2000:]


@pytest.mark.parametrize("name", models.list_models())
def test_every_builder_takes_kernel_initializer(name):
    """The course's "double the weight variance for ReLU" (He et al.) on any model: every
    hidden Dense/Conv kernel follows ``kernel_initializer``; the classifier keeps its own."""
    kwargs = SMALL.get(name, {})
    model = models.get_model(name, kernel_initializer="zeros", **kwargs)
    kernels = [(layer.name, layer.kernel) for layer in _walk(model)
               if hasattr(layer, "kernel") and layer.name not in ("predictions",)]
    assert kernels, name
    for layer_name, kernel in kernels:
        assert not np.any(keras.ops.convert_to_numpy(kernel)), (name, layer_name)
    default = models.get_model(name, **kwargs)
    assert any(np.any(keras.ops.convert_to_numpy(layer.kernel)) for layer in _walk(default)
               if hasattr(layer, "kernel"))
    with pytest.raises(ValueError, match="kernel_initializer='nope'"):
        models.get_model(name, kernel_initializer="nope", **kwargs)


def _walk(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _walk(layer)
        else:
            yield layer


def test_perceptron_learns_and_by_its_rule_and_never_xor():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "float32")
    errors = {}
    for name, y in (("and", [0, 0, 0, 1]), ("xor", [0, 1, 1, 0])):
        keras.utils.set_random_seed(0)
        model = models.get_model("perceptron")
        model.compile()
        history = model.fit(x, np.array(y, "float32"), batch_size=1, epochs=40, verbose=0)
        errors[name] = history.history["errors"]
    assert errors["and"][-1] == 0.0  # linearly separable: converges (Novikoff)
    assert min(errors["xor"][-10:]) >= 0.25  # a line cannot split XOR: always a mistake


def test_vit_tiny_tokens_and_representations():
    model = models.get_model("vit_tiny", input_shape=(28, 28, 1), classes=10, patch_size=4,
                             depth=1, include_top=False)
    assert model.output_shape == (None, 1 + 7 * 7, 192)  # [class] token + 49 patches
    assert isinstance(model.get_layer("block1_attention"), keras.layers.MultiHeadAttention)
    gap = models.get_model("vit_tiny", input_shape=(28, 28, 1), classes=10, patch_size=4,
                           depth=1, representation="gap")
    token = models.get_model("vit_tiny", input_shape=(28, 28, 1), classes=10, patch_size=4,
                             depth=1)
    assert gap.count_params() == token.count_params()  # the same weights, read differently
    with pytest.raises(ValueError, match="patch_size=5"):
        models.get_model("vit_tiny", input_shape=(28, 28, 1), patch_size=5)
    with pytest.raises(ValueError, match="num_heads=5"):
        models.get_model("vit_tiny", hidden_dim=192, num_heads=5)


@pytest.mark.parametrize("name", models.list_models())
def test_every_builder_shows_its_real_signature(name):
    """Generated variants (resnet18, vgg16, ...) show their own arguments: no architecture
    argument left to fill, and their own name as the default model name."""
    import inspect

    from kdl.models._registry import get_model_builder

    params = inspect.signature(get_model_builder(name)).parameters
    assert [p for p, v in params.items() if v.default is inspect.Parameter.empty] == []
    assert params["name"].default == name
