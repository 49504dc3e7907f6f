import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pathlib  # noqa: E402

import pytest  # noqa: E402

FMNIST_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
ROOT = pathlib.Path(__file__).resolve().parents[1]


def fashion_mnist_available() -> bool:
    d = pathlib.Path(os.environ.get("KDL_DATA_DIR", FMNIST_DIR))
    return (d / "train-images-idx3-ubyte.gz").exists() or (d / "train-images-idx3-ubyte").exists()


needs_fashion_mnist = pytest.mark.skipif(
    not fashion_mnist_available(),
    reason="Fashion-MNIST files missing: apt-get install dataset-fashion-mnist",
)


@pytest.fixture(scope="session")
def fashion_mnist():
    if not fashion_mnist_available():
        pytest.skip("Fashion-MNIST files missing: apt-get install dataset-fashion-mnist")
    from kdl.data import load_image_dataset

    return load_image_dataset("fashion_mnist")


def tiny_model(activation="relu"):
    """5 inputs, a 4-unit layer named "hidden", a 3-class softmax: for callback and penalty
    tests that need a model and no data."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    h = keras.layers.Dense(4, activation=activation, name="hidden")(inputs)
    out = keras.layers.Dense(3, activation="softmax", name="predictions")(h)
    return keras.Model(inputs, out)
