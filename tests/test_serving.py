"""Serving what clients send (issue 29): serving_bytes and class names in the SavedModel,
request.json / expected.json and `kdl serve-check`, `kdl predict` on any image."""

import base64
import io
import json
import os

import numpy as np
import pytest

from kdl import cli
from tests.conftest import fashion_mnist_available

pytestmark = pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST missing")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """LeNet-5's smoke run, exported: (workdir, version path)."""
    root = tmp_path_factory.mktemp("serving")
    assert cli.main(["train", "lenet5_fashion_mnist", "--smoke", "--no-report", "--workdir",
                     str(root / "w"), "--export-dir", str(root / "e")]) == 0
    return root / "w", root / "e" / "lenet5_fashion_mnist" / "1"


def _image_bytes(array, fmt):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def _photos():
    """A 300x200 RGB JPEG, a 50x70 RGBA PNG, a 28x28 grey PNG: (name, bytes, pixels as
    decoded by PIL)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (70, 50, 4), dtype=np.uint8)
    grey = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    out = []
    for name, array, fmt in (("photo.jpg", rgb, "JPEG"), ("icon.png", rgba, "PNG"),
                             ("small.png", grey, "PNG")):
        data = _image_bytes(array, fmt)
        out.append((name, data, np.asarray(Image.open(io.BytesIO(data)))))
    return out


def test_serving_bytes_answers_what_the_model_answers_on_the_same_pixels(exported):
    import keras
    import tensorflow as tf

    import kdl.layers  # noqa: F401
    import kdl.losses  # noqa: F401

    workdir, version = exported
    loaded = tf.saved_model.load(str(version))
    model = keras.saving.load_model(workdir / "model.keras", compile=False)
    meta = json.loads((version / "kdl.json").read_text())
    assert meta["serving_bytes"]["method"] == "bilinear" and meta["serving_bytes"]["antialias"]
    photos = _photos()
    answer = loaded.signatures["serving_bytes"](images=tf.constant([b for _, b, _ in photos]))
    for i, (name, _, pixels) in enumerate(photos):
        x = pixels.astype("float32").reshape(*pixels.shape[:2], -1)[..., :3]  # alpha dropped
        if x.shape[-1] == 3:
            x = tf.image.rgb_to_grayscale(x)
        x = tf.image.resize(x, (28, 28), method="bilinear", antialias=True)
        expected = model.predict(x[None], verbose=0)[0]
        # PIL's and TensorFlow's JPEG decoders may differ by a level here and there.
        tolerance = 2e-3 if name.endswith(".jpg") else 1e-5
        np.testing.assert_allclose(answer["probabilities"].numpy()[i], expected, atol=tolerance)
        assert answer["class_names"].numpy()[i].decode() == \
            meta["class_names"][int(answer["class_ids"].numpy()[i])]
    assert answer["top_k_class_names"].shape == (3, 5)


def test_request_json_is_a_tf_serving_rest_body_and_serve_check_passes(exported, capsys):
    _, version = exported
    request = json.loads((version / "request.json").read_text())
    assert request["signature_name"] == "serving_bytes" and len(request["instances"]) == 3
    assert base64.b64decode(request["instances"][0]["b64"])[:8] == b"\x89PNG\r\n\x1a\n"
    expected = json.loads((version / "expected.json").read_text())
    assert {"class_names", "class_ids", "probabilities"} <= set(expected["predictions"][0])
    assert cli.main(["serve-check", str(version.parent), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["max_abs_diff"]) == {"serving_bytes", "serving_default", "serving_float"}
    assert max(out["max_abs_diff"].values()) <= expected["tolerance"]


def test_serve_check_fails_in_one_line_on_a_tampered_expected_json(exported, tmp_path, capsys):
    import shutil

    _, version = exported
    copy = tmp_path / "m" / "1"
    shutil.copytree(version, copy)
    expected = json.loads((copy / "expected.json").read_text())
    expected["predictions"][1]["probabilities"][0] += 0.01
    (copy / "expected.json").write_text(json.dumps(expected))
    assert cli.main(["serve-check", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "away from expected.json" in err, err
    names = json.loads((version / "expected.json").read_text())
    names["predictions"][0]["class_names"] = "Not a class"
    (copy / "expected.json").write_text(json.dumps(names))
    assert cli.main(["serve-check", str(copy)]) == 2
    assert "'Not a class'" in capsys.readouterr().err
    os.remove(copy / "request.json")
    assert cli.main(["serve-check", str(copy)]) == 2
    assert "has no request.json" in capsys.readouterr().err


def test_predict_takes_any_photo_folder_or_glob_and_notes_a_light_background(
        exported, tmp_path, capsys):
    _, version = exported
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, data, _ in _photos():
        (photos / name).write_bytes(data)
    light = np.full((300, 300, 3), 235, np.uint8)
    light[60:240, 90:210] = 40
    (photos / "shoe.jpg").write_bytes(_image_bytes(light, "JPEG"))
    assert cli.main(["predict", str(version.parent), str(photos / "shoe.jpg")]) == 0
    out, err = capsys.readouterr()
    names = json.loads((version / "kdl.json").read_text())["class_names"]
    assert "shoe.jpg" in out and any(n in out for n in names)
    assert err.count("\n") == 1 and "border is much lighter" in err
    assert cli.main(["predict", str(version), str(photos), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [os.path.basename(r["file"]) for r in rows] == sorted(os.listdir(photos))
    assert all(r["class_name"] == names[r["class_id"]] for r in rows)
    assert cli.main(["predict", str(version), str(photos / "*.png"), "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert cli.main(["predict", str(version), str(photos / "shoe.jpg"), "--json",
                     "--signature", "serving_default"]) == 0
    same = json.loads(capsys.readouterr().out)
    shoe = next(r for r in rows if r["file"].endswith("shoe.jpg"))
    assert same["class_id"] == shoe["class_id"]  # the note changed nothing
    assert abs(same["probability"] - shoe["probability"]) < 2e-3


@pytest.mark.parametrize("case, says", [
    ("notes.txt", "is not an image"), ("empty", "No images"), ("nothing*.png", "No file matches"),
    ("missing.png", "No such file"), ("no_model", "No SavedModel"), ("version_3", "No SavedModel"),
    ("signature", "has no signature 'serving_bits'")])
def test_predict_bad_input_is_one_line(exported, tmp_path, capsys, case, says):
    _, version = exported
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    (tmp_path / "no_model" / "3").mkdir(parents=True)
    good = str(tmp_path / "good.png")
    with open(good, "wb") as f:
        f.write(_photos()[2][1])
    export, inputs, extra = str(version), [good], []
    if case in ("notes.txt", "empty", "nothing*.png", "missing.png"):
        inputs = [str(tmp_path / case)]
    elif case == "no_model":
        export = str(tmp_path / "no_model")
    elif case == "version_3":
        export = str(tmp_path / "no_model" / "3")
    else:
        extra = ["--signature", "serving_bits"]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert cli.main(["predict", export, *inputs, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err and "Received:" in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_onnx_and_litert_exports_are_checked_by_their_own_runtimes(exported, tmp_path, capsys):
    import keras
    import onnxruntime
    from ai_edge_litert.interpreter import Interpreter

    from kdl.data import load_image_dataset

    workdir, _ = exported
    assert cli.main(["export", "lenet5_fashion_mnist", "--smoke", "--workdir", str(workdir),
                     "--export-dir", str(tmp_path / "e"), "--format", "onnx", "--format",
                     "litert", "--json"]) == 0
    version = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["export_path"]
    meta = json.loads(open(os.path.join(version, "kdl.json")).read())
    for f in ("onnx", "litert"):
        record = meta["formats"][f]
        assert abs(record["test_accuracy"] - record["keras_test_accuracy"]) <= 0.001
        assert record["max_abs_diff"] < 1e-4 and record["test_examples"] > 0
    images = load_image_dataset("fashion_mnist").arrays["test"][0][:8].astype("float32")
    model = keras.saving.load_model(workdir / "model.keras", compile=False)
    expected = model.predict(images, verbose=0)
    session = onnxruntime.InferenceSession(os.path.join(version, "model.onnx"))
    assert len(session.get_inputs()) == 1  # the weights are in the file, not inputs
    got = session.run(None, {session.get_inputs()[0].name: images})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    interpreter = Interpreter(model_path=os.path.join(version, "model.tflite"))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(images.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, images)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_an_export_format_its_runtime_does_not_reproduce_is_refused(exported, tmp_path, capsys,
                                                                    monkeypatch):
    from kdl import formats

    workdir, _ = exported
    monkeypatch.setattr(formats, "MAX_ACCURACY_GAP", -1.0)  # any accuracy now "differs"
    args = ["export", "lenet5_fashion_mnist", "--smoke", "--workdir", str(workdir),
            "--export-dir", str(tmp_path / "e")]
    assert cli.main([*args, "--format", "onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not kept" in err, err
    assert os.listdir(tmp_path / "e" / "lenet5_fashion_mnist") == []  # no version published
    assert cli.main([*args, "--format", "tflite"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Unknown export format 'tflite'" in err and len(err.splitlines()) == 1
