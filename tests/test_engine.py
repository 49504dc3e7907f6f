"""The course's training knobs as recipe fields: penalties, clipping, weight
normalization's data-dependent init, and the sanity mode that overfits a small batch."""

import math

import keras
import numpy as np
import pytest

from kdl.recipes import get_recipe
from tests.conftest import fashion_mnist_available, tiny_model

needs_data = pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST missing")


def test_penalties_equal_a_hand_computation_and_survive_a_reload(tmp_path):
    from kdl.engine.regularize import apply_regularizers

    recipe = get_recipe("mlp_fashion_mnist").replace(l1=1e-3, l2=1e-2, activity_l1=1e-1)
    model = tiny_model()
    assert apply_regularizers(model, recipe) == 3  # two kernels, one hidden activity
    x = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    model(x)  # the activity penalty is recorded by a call
    kernels = [model.get_layer(n).kernel.numpy() for n in ("hidden", "predictions")]
    weight_penalty = sum(1e-3 * np.abs(k).sum() + 1e-2 * (k ** 2).sum() for k in kernels)
    h = np.maximum(x @ kernels[0] + model.get_layer("hidden").bias.numpy(), 0)
    activity_penalty = 1e-1 * np.abs(h).sum() / len(x)  # Keras averages it over the batch
    np.testing.assert_allclose(float(sum(model.losses)), weight_penalty + activity_penalty,
                               rtol=1e-4)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.get_layer("hidden").kernel_regularizer.get_config()["l2"] == pytest.approx(1e-2)
    assert apply_regularizers(tiny_model(), get_recipe("mlp_fashion_mnist")) == 0  # all off by default


def test_clipping_and_ema_reach_keras_through_the_constructor():
    from kdl.optimizers import build_optimizer
    from kdl.engine.resolve import check_recipe

    recipe = get_recipe("lenet5_fashion_mnist").replace(clipnorm=1.0, weight_decay=1e-4)
    opt = build_optimizer(recipe, steps_per_epoch=10)
    assert (opt.clipnorm, opt.clipvalue, opt.weight_decay) == (1.0, None, 1e-4)
    assert build_optimizer(recipe.replace(clipnorm=None, clipvalue=0.5), 10).clipvalue == 0.5
    assert opt.use_ema and opt.ema_momentum == recipe.ema and opt.ema_overwrite_frequency == 10
    for bad, fragment in [({"ema": 1.5}, "ema=1.5"), ({"clipnorm": 0.0}, "clipnorm=0.0"),
                          ({"l2": -1.0}, "l2=-1.0"), ({"clipvalue": 0.5}, "not both"),
                          ({"label_noise": 1.5}, "label_noise=1.5"),
                          ({"log_every_n_batches": -1}, "log_every_n_batches=-1"),
                          ({"log_every_n_batches": 2.5}, "log_every_n_batches=2.5"),
                          ({"input_pipeline": "grain"}, "input_pipeline")]:
        with pytest.raises(ValueError, match=fragment):
            check_recipe(recipe.replace(**bad))


def test_clipnorm_bounds_the_update():
    from kdl.optimizers import build_optimizer

    recipe = get_recipe("mlp_fashion_mnist").replace(optimizer="sgd", schedule="constant",
                                                     learning_rate=1.0, clipnorm=0.1, ema=None)
    v = keras.Variable(np.zeros(4, "float32"))
    opt = build_optimizer(recipe, steps_per_epoch=1)
    opt.apply_gradients([(keras.ops.convert_to_tensor(np.full(4, 100.0, "float32")), v)])
    np.testing.assert_allclose(np.linalg.norm(v.numpy()), 0.1, rtol=1e-5)


@needs_data
def test_weight_norm_data_dependent_init_runs_in_kdl_train(tmp_path):
    from kdl.layers import WeightNormalization, initialize_weight_norm
    from kdl.engine.loop import build_model, prepare_data, train_and_evaluate
    from kdl.engine.regularize import initialize_data_dependent

    recipe = get_recipe("mlp_fashion_mnist").smoke().replace(
        model_args={**get_recipe("mlp_fashion_mnist").model_args, "weight_norm": True,
                    "batch_norm": False})
    data = prepare_data(recipe)
    model = build_model(recipe, data)
    wn = [layer for layer in model.layers if isinstance(layer, WeightNormalization)]
    assert wn and all(layer.data_init for layer in wn)
    assert initialize_data_dependent(model, data) == len(wn)  # what kdl train calls
    x = next(iter(data.train))[0]
    initialize_weight_norm(model, x)
    pre = keras.Model(model.inputs, wn[0].output)(x).numpy()  # pre-activations, first layer
    np.testing.assert_allclose(pre.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(pre.std(0), 1, atol=1e-3)
    result = train_and_evaluate(recipe, str(tmp_path / "w"), verbose=0)
    assert result.test_metrics["accuracy"] > 0.5


@needs_data
def test_overfit_batch_reaches_near_zero_loss_from_log_classes():
    from kdl.engine.sanity import overfit_small_batch

    report = overfit_small_batch(get_recipe("lenet5_fashion_mnist"), 32, max_steps=600)
    assert report["examples"] == 32 and report["reached"], report
    assert report["final_loss"] < report["threshold"] == 0.01
    assert report["expected_initial_loss"] == pytest.approx(math.log(10))
    assert report["initial_loss_ok"] and abs(report["initial_loss"] - math.log(10)) < 0.3


def test_overfit_verdicts_both_ways():
    from kdl.engine.sanity import initial_loss_verdict

    assert initial_loss_verdict(2.31, 10) is True
    assert initial_loss_verdict(7.5, 10) is False  # a badly scaled init or output layer
    assert initial_loss_verdict(0.2, 10) is False  # a label leak or a bug




def test_jit_compile_is_resolved_per_backend_and_an_explicit_choice_is_kept():
    import tensorflow as tf

    from kdl.platform import jit_compile_for
    from kdl.engine.resolve import resolve_for_strategy

    recipe = get_recipe("mlp_fashion_mnist")
    assert recipe.jit_compile is None  # kdl's choice, made when the run is resolved
    ran = resolve_for_strategy(recipe, tf.distribute.get_strategy())
    assert ran.jit_compile is (keras.backend.backend() == "jax")
    assert jit_compile_for(recipe.replace(jit_compile=True)) is True
    assert resolve_for_strategy(recipe.replace(jit_compile=False),
                                tf.distribute.get_strategy()).jit_compile is False


def test_precision_auto_is_bfloat16_only_where_it_measured_faster(monkeypatch):
    import tensorflow as tf


    import kdl.platform as platform
    from kdl.engine.resolve import resolve_for_strategy

    recipe = get_recipe("resnet20_fashion_mnist")
    assert recipe.precision == "auto"
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(platform, "_cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    ran = resolve_for_strategy(recipe, tf.distribute.get_strategy())
    assert ran.precision == "float32"  # bfloat16 ran 0.78x float32 without AMX
    monkeypatch.setattr(platform, "_cpu_flags", lambda: {"avx512_bf16", "amx_bf16", "amx_tile"})
    assert platform.precision_for(recipe) == "mixed_bfloat16"
    assert platform.precision_for(recipe.replace(precision="float32")) == "float32"


def test_precision_auto_sees_the_gpus_of_every_backend(monkeypatch):
    """No GPU here: each backend's device query is faked, as it reports a GPU."""
    import types

    import keras

    import kdl.platform as platform

    recipe = get_recipe("resnet20_fashion_mnist")
    monkeypatch.setattr(platform, "_cpu_flags", lambda: {"avx2"})
    for capabilities, expected in (([], "float32"), ([(7, 5)], "float32"),
                                   ([(7, 5), (9, 0)], "mixed_bfloat16")):
        monkeypatch.setattr(platform, "_gpu_capabilities", lambda c=capabilities: c)
        assert platform.precision_for(recipe) == expected
    monkeypatch.undo()
    monkeypatch.setattr(platform, "_cpu_flags", lambda: {"avx2"})
    try:
        import jax
    except ImportError:
        jax = None
    if jax is not None:
        monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
        devices = [types.SimpleNamespace(platform="gpu", compute_capability="8.6"),
                   types.SimpleNamespace(platform="cpu")]
        monkeypatch.setattr(jax, "devices", lambda: devices)
        assert platform._gpu_capabilities() == [(8, 6)]
        monkeypatch.setattr(jax, "devices", lambda: devices[1:])
        assert platform._gpu_capabilities() == []
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: ((7, 0), (8, 0))[i])
        assert platform._gpu_capabilities() == [(7, 0), (8, 0)]
        assert platform.precision_for(recipe) == "mixed_bfloat16"
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        assert platform._gpu_capabilities() == []
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    import tensorflow as tf

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["gpu0"])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda gpu: {"compute_capability": (8, 0)})
    assert platform._gpu_capabilities() == [(8, 0)]


@needs_data
@pytest.mark.parametrize("pipeline", ["tf.data", "pydataset"])
def test_max_labeled_examples_feeds_the_fit_a_prefix_and_pretraining_all(pipeline):
    """The supervised fit sees the first max_labeled_examples; pretraining (train_arrays)
    and the normalization statistics see every training image."""
    from kdl.engine.loop import prepare_data
    from kdl.engine.resolve import check_recipe
    from kdl.recipes import get_recipe

    recipe = get_recipe("sdae_fashion_mnist").replace(
        max_train_examples=1000, max_labeled_examples=100, max_test_examples=256,
        batch_size=32, input_pipeline=pipeline)
    data = prepare_data(recipe)
    assert data.steps_per_epoch == 4  # 100 labelled images in batches of 32
    assert len(data.train_arrays[0]) == 1000
    labels = np.concatenate([np.asarray(y) for _, y in data.train])
    assert len(labels) == 100
    np.testing.assert_array_equal(np.sort(labels), np.sort(data.train_arrays[1][:100]))
    with pytest.raises(ValueError, match="Received: max_labeled_examples=0"):
        check_recipe(recipe.replace(max_labeled_examples=0))
