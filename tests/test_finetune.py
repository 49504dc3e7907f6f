"""Fine-tuning (kdl.engine.finetune) and the weights that ship with cards
(kdl.models._weights): weights by layer name, a new head for new classes, frozen layers
that stay frozen, input shapes refused or adapted, and a card's weights reproducing the
card's own test accuracy."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from kdl.errors import ConfigError
from kdl.models._weights import transfer_weights
from tests.test_sources import _cifar_tarball, write_digit_folder


def _net(classes: int, channels: int = 1, seed: int = 0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, channels))
    x = keras.layers.Conv2D(4, 3, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="conv1_bn")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


def test_weights_go_in_by_name_and_a_new_head_is_reported():
    source, target = _net(10, seed=0), _net(3, seed=1)
    report = transfer_weights(source, target)
    assert report.line() == "loaded 2/3 layers; new: predictions"
    np.testing.assert_array_equal(target.get_layer("conv1").kernel.numpy(),
                                  source.get_layer("conv1").kernel.numpy())
    # Nested models (the test-time-flip wrapper) are looked through.
    from kdl.layers import with_test_time_flip

    again = _net(10, seed=2)
    assert transfer_weights(with_test_time_flip(source), again).line() == "loaded 3/3 layers"


def test_the_first_layer_adapts_to_other_channels_as_timm_does():
    grey, rgb = _net(10, channels=1, seed=0), _net(10, channels=3, seed=1)
    assert transfer_weights(grey, rgb).new == ("conv1",)
    report = transfer_weights(grey, rgb, adapt_input=True)
    assert report.adapted == ("conv1",) and not report.new
    kernel = grey.get_layer("conv1").kernel.numpy()
    np.testing.assert_allclose(rgb.get_layer("conv1").kernel.numpy(),
                               np.repeat(kernel, 3, axis=-2) / 3, rtol=1e-6)
    # A grey image through the adapted net answers as the grey net: the same function.
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(rgb.predict(np.repeat(x, 3, -1), verbose=0),
                               grey.predict(x, verbose=0), atol=1e-5)
    back = _net(10, channels=1, seed=3)
    transfer_weights(rgb, back, adapt_input=True)
    np.testing.assert_allclose(back.get_layer("conv1").kernel.numpy(), kernel, rtol=1e-5)


@pytest.fixture(scope="module")
def lenet_card(tmp_path_factory, fashion_mnist):
    """A LeNet-5 card with its weights, recorded into a cards folder of its own: a short
    real run on Fashion-MNIST (the shipped cards are tested in test_shipped_weights...)."""
    import os

    from kdl import cards
    from kdl.engine.seeds import train_seeds
    from kdl.recipes import get_recipe

    root = tmp_path_factory.mktemp("card")
    previous = os.environ.get("KDL_CARDS_DIR")
    os.environ["KDL_CARDS_DIR"] = str(root / "cards")
    try:
        recipe = get_recipe("lenet5_fashion_mnist").smoke().replace(max_train_examples=4096,
                                                                    ema=None)
        done = train_seeds(recipe, str(root / "run"), verbose=0)
        cards.record(done, command="test")
        yield root
    finally:
        if previous is None:
            os.environ.pop("KDL_CARDS_DIR")
        else:
            os.environ["KDL_CARDS_DIR"] = previous


def test_a_cards_weights_reproduce_its_test_accuracy_and_are_checked(lenet_card, tmp_path):
    import shutil

    from kdl import cards
    from kdl.card_store import load_card
    from kdl.models import get_model

    card = load_card("lenet5_fashion_mnist")
    entry = card["weights"]
    assert entry["file"].startswith("lenet5_fashion_mnist-") and len(entry["sha256"]) == 64
    measured = cards.evaluate_weights("lenet5_fashion_mnist")
    assert abs(measured["accuracy"] - entry["test_metrics"]["accuracy"]) <= 1e-6
    model = get_model("lenet5", weights="card:lenet5_fashion_mnist")
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    with pytest.raises(ConfigError, match="are a lenet5, not a mlp"):
        get_model("mlp", weights="card:lenet5_fashion_mnist")
    with pytest.raises(ConfigError, match="other arguments would change it"):
        get_model("lenet5", weights="card:lenet5_fashion_mnist", classes=3)
    path = lenet_card / "cards" / entry["file"]
    saved = tmp_path / "saved.h5"
    shutil.copy(path, saved)
    try:
        with open(path, "r+b") as f:  # one byte changed: not the file the card names
            f.seek(-100, 2)
            byte = f.read(1)
            f.seek(-100, 2)
            f.write(bytes([byte[0] ^ 0xFF]))
        with pytest.raises(ConfigError, match="is not the one the card of lenet5_fashion_mnist"):
            get_model("lenet5", weights="card:lenet5_fashion_mnist")
    finally:
        shutil.copy(saved, path)


def test_predict_with_a_card_needs_no_export(lenet_card, tmp_path, capsys, fashion_mnist):
    from PIL import Image

    from kdl.cli import main

    x, y = fashion_mnist.arrays["test"]
    for i in range(4):
        Image.fromarray(x[i, ..., 0]).resize((60, 60)).convert("RGB").save(tmp_path / f"{i}.jpg")
    assert main(["predict", "--card", "lenet5_fashion_mnist", str(tmp_path), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 4 and all(r["class_name"] in fashion_mnist.class_names for r in rows)
    assert main(["weights", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["card"] for r in listed] == ["lenet5_fashion_mnist"]


def _train(args, capsys):
    from kdl.cli import main

    code = main(["train", "lenet5_fashion_mnist", "--smoke", "--no-report", *args])
    return code, capsys.readouterr()


def test_fine_tuning_from_a_card_loads_freezes_and_unfreezes(lenet_card, tmp_path, capsys):
    from kdl.card_store import load_card

    digits = write_digit_folder(tmp_path / "digits", per_class=10)
    card = load_card("lenet5_fashion_mnist")
    source = keras.saving.load_model(lenet_card / "run" / "model.keras", compile=False)
    common = ["--data", f"folder:{digits}", "--no-export", "--set",
              "init_from=card:lenet5_fashion_mnist", "--set", "ema=None"]
    code, out = _train([*common, "--set", "freeze=backbone", "--epochs", "2",
                        "--workdir", str(tmp_path / "frozen")], capsys)
    assert code == 0, out.err
    assert "init_from card:lenet5_fashion_mnist: loaded 7/8 layers; new: predictions" in out.out
    result = json.loads((tmp_path / "frozen" / "result.json").read_text())
    parent = result["parent"]
    assert parent["kind"] == "card" and parent["sha256"] == card["weights"]["sha256"]
    assert parent["new"] == ["predictions"]
    frozen = keras.saving.load_model(tmp_path / "frozen" / "model.keras", compile=False)
    from kdl.models._weights import named_layers

    after = named_layers(frozen)
    before = named_layers(source)
    np.testing.assert_array_equal(after["conv1"].kernel.numpy(), before["conv1"].kernel.numpy())
    np.testing.assert_array_equal(after["conv1_bn"].moving_mean.numpy(),
                                  before["conv1_bn"].moving_mean.numpy())  # BN in inference mode
    code, out = _train([*common, "--set", "freeze=backbone", "--set", "unfreeze_epoch=1",
                        "--epochs", "2", "--workdir", str(tmp_path / "thawed")], capsys)
    assert code == 0, out.err
    thawed = named_layers(keras.saving.load_model(tmp_path / "thawed" / "model.keras",
                                                  compile=False))
    assert not np.array_equal(thawed["conv1"].kernel.numpy(), before["conv1"].kernel.numpy())
    assert not (tmp_path / "thawed" / "backup_frozen").exists()
    history = (tmp_path / "thawed" / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1"]


@pytest.mark.slow
def test_fine_tuning_from_a_run_and_an_export_and_shapes_refused_or_adapted(
        lenet_card, tmp_path, capsys):
    run = lenet_card / "run"
    code, out = _train(["--set", f"init_from={run}", "--workdir", str(tmp_path / "a"),
                        "--export-dir", str(tmp_path / "e")], capsys)
    assert code == 0 and "loaded 8/8 layers" in out.out, out.err
    assert (tmp_path / "e" / "lenet5_fashion_mnist" / "1" / "model.keras").is_file()
    code, out = _train(["--set", f"init_from={tmp_path / 'e' / 'lenet5_fashion_mnist'}",
                        "--workdir", str(tmp_path / "b"), "--no-export"], capsys)
    assert code == 0 and "loaded 8/8 layers" in out.out, out.err
    result = json.loads((tmp_path / "b" / "result.json").read_text())
    assert result["parent"]["kind"] == "export"
    cifar = tmp_path / "cifar.tar.gz"
    _cifar_tarball(cifar)
    refused = ["--data", f"cifar10:{cifar}", "--set", "init_from=card:lenet5_fashion_mnist",
               "--set", "image_size=(28, 28)", "--workdir", str(tmp_path / "c"), "--no-export"]
    code, out = _train(refused, capsys)
    lines = out.err.strip().splitlines()
    assert code == 2 and len(lines) == 1, out.err
    assert "takes 28x28x1 images and this run's are 28x28x3" in lines[0] and "adapt_input" in lines[0]
    assert not (tmp_path / "c").exists()
    code, out = _train([*refused, "--set", "adapt_input=True"], capsys)
    assert code == 0, out.err
    assert "(conv1 adapted to the input's channels); new: normalization, predictions" in out.out


@pytest.mark.parametrize("setting, fragment", [
    ("init_from=/nonexistent/model.keras", "does not exist"),
    ("init_from=card:no_such_card", "No card named no_such_card"),
    ("freeze=backbone", "set init_from too"),
    ("freeze=some", "`freeze` must be"),
    ("unfreeze_epoch=3", "`unfreeze_epoch` must be None or an epoch in 1..0"),
])
def test_bad_fine_tuning_settings_are_one_line(setting, fragment, tmp_path, capsys):
    code, out = _train(["--set", setting, "--workdir", str(tmp_path / "w")], capsys)
    lines = out.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and fragment in lines[0], out.err
    assert not (tmp_path / "w").exists()


def _shipped():
    import os

    from kdl.card_store import cards_with_weights

    if os.environ.get("KDL_CARDS_DIR"):  # a run's own cards folder: not the shipped ones
        return []
    return [name for name, _ in cards_with_weights()]


@pytest.mark.parametrize("name", _shipped())
def test_each_shipped_weights_file_repeats_its_cards_test_metrics(name, fashion_mnist,
                                                                   monkeypatch):
    """The weights in the wheel, evaluated as the recorded run evaluated them, within 0.002
    of what the card says they measured."""
    from kdl import cards

    monkeypatch.delenv("KDL_CARDS_DIR", raising=False)  # the checkout's own cards
    from kdl.card_store import load_card

    entry = load_card(name)["weights"]
    measured = cards.evaluate_weights(name)
    for metric, value in entry["test_metrics"].items():
        tolerance = 0.002 if metric == "accuracy" else 0.01 * abs(value)
        assert abs(measured[metric] - value) <= tolerance, (metric, measured, value)


def test_the_checkout_ships_weights_for_the_small_cards(monkeypatch):
    monkeypatch.delenv("KDL_CARDS_DIR", raising=False)
    shipped = set(_shipped())
    assert {"lenet5_fashion_mnist", "mlp_fashion_mnist", "autoencoder_fashion_mnist",
            "resnet20_fashion_mnist"} <= shipped
