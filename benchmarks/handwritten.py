"""The hand-written baselines: models written the way the keras-io examples write them.

Sequential models (functional where keras-io's own example is functional, as its CIFAR
ResNet is), trained with ``fit`` on in-memory numpy arrays. Used by ``run_all.py`` and
``lenet5_vs_handwritten.py``; also runnable as the keras-io-style LeNet-5 script:

    python -m benchmarks.handwritten --epochs 4
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def lenet5():
    import keras
    from keras import layers

    # With batch norm after each convolution's pooling, as kdl's recipe: the same model,
    # so that the bench's ratio compares the engineering, not the layer order.
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(6, 5, padding="same", use_bias=False),
        layers.MaxPooling2D(2),
        layers.BatchNormalization(), layers.Activation("relu"),
        layers.Conv2D(16, 5, use_bias=False),
        layers.MaxPooling2D(2),
        layers.BatchNormalization(), layers.Activation("relu"),
        layers.Flatten(),
        layers.Dense(120, activation="relu"),
        layers.Dense(84, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def mlp():
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)), layers.Flatten(),
        layers.Dense(256, activation="relu"), layers.Dropout(0.2),
        layers.Dense(128, activation="relu"), layers.Dropout(0.2),
        layers.Dense(100, activation="relu"), layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])


def resnet20():
    """keras-io's CIFAR ResNet style: functional, 3 stages, projection shortcuts."""
    import keras
    from keras import layers

    def block(x, filters, stride):
        y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        y = layers.BatchNormalization()(y)
        y = layers.Activation("relu")(y)
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        if stride != 1 or x.shape[-1] != filters:
            x = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
            x = layers.BatchNormalization()(x)
        return layers.Activation("relu")(layers.Add()([x, y]))

    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    for i, filters in enumerate((16, 32, 64)):
        for j in range(3):
            x = block(x, filters, 2 if i > 0 and j == 0 else 1)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


def alexnet():
    """AlexNet as a keras-io user writes it: Sequential, LRN through tf.nn in a Lambda,
    the 28x28 images resized to 64x64 in the model (as kdl's recipe does)."""
    import keras
    import tensorflow as tf
    from keras import layers

    def lrn():
        return layers.Lambda(lambda t: tf.nn.local_response_normalization(
            t, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75))

    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)), layers.Resizing(64, 64),
        layers.ZeroPadding2D(2), layers.Conv2D(64, 11, strides=4, activation="relu"), lrn(),
        layers.MaxPooling2D(3, strides=2),
        layers.Conv2D(192, 5, padding="same", activation="relu"), lrn(),
        layers.MaxPooling2D(3, strides=2),
        layers.Conv2D(384, 3, padding="same", activation="relu"),
        layers.Conv2D(256, 3, padding="same", activation="relu"),
        layers.Conv2D(256, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(3, strides=2), layers.Flatten(),
        layers.Dropout(0.5), layers.Dense(4096, activation="relu"),
        layers.Dropout(0.5), layers.Dense(4096, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def vgg16_bn():
    """VGG16 with batch norm and a 512-unit head at 32x32, Sequential."""
    import keras
    from keras import layers

    stack = [keras.Input(shape=(28, 28, 1)), layers.Resizing(32, 32)]
    for n, filters in ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)):
        for _ in range(n):
            stack += [layers.Conv2D(filters, 3, padding="same"), layers.BatchNormalization(),
                      layers.Activation("relu")]
        stack.append(layers.MaxPooling2D(2))
    stack += [layers.Flatten(), layers.Dropout(0.5), layers.Dense(512, activation="relu"),
              layers.Dropout(0.5), layers.Dense(512, activation="relu"),
              layers.Dense(10, activation="softmax")]
    return keras.Sequential(stack)


def resnet18():
    """ResNet-18 (the small-image stem: one 3x3 stride-1 convolution, no max pool; basic
    blocks, projection shortcuts) at 32x32, as the recipe's."""
    import keras
    from keras import layers

    def block(x, filters, stride):
        y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        y = layers.Activation("relu")(layers.BatchNormalization()(y))
        y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same",
                                                      use_bias=False)(y))
        if stride != 1 or x.shape[-1] != filters:
            x = layers.BatchNormalization()(layers.Conv2D(filters, 1, strides=stride,
                                                          use_bias=False)(x))
        return layers.Activation("relu")(layers.Add()([x, y]))

    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Resizing(32, 32)(inputs)
    x = layers.Conv2D(64, 3, padding="same", use_bias=False)(x)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    for i, filters in enumerate((64, 128, 256, 512)):
        for j in range(2):
            x = block(x, filters, 2 if i > 0 and j == 0 else 1)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


MODELS = {"lenet5": lenet5, "mlp": mlp, "resnet20": resnet20, "alexnet": alexnet,
          "vgg16": vgg16_bn, "resnet18": resnet18}


def optimizer(name: str, learning_rate: float, momentum: float = 0.9):
    """The plain Keras optimizer a hand-written script would pass to compile."""
    import keras

    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name in ("momentum", "nesterov"):
        return keras.optimizers.SGD(learning_rate, momentum=momentum,
                                    nesterov=name == "nesterov")
    raise ValueError(f"No hand-written optimizer for {name!r}. Received: name={name!r}")


def load_arrays():
    """Fashion-MNIST as keras.datasets gives it, read from Debian's files (offline)."""
    from kdl.data.idx import load_idx_directory
    from kdl.data.sources import DEBIAN_FASHION_MNIST

    return load_idx_directory(os.environ.get("KDL_DATA_DIR", DEBIAN_FASHION_MNIST))


def main(argv=None):
    parser = argparse.ArgumentParser(description="keras-io-style LeNet-5 on Fashion-MNIST")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--model", default="lenet5", choices=sorted(MODELS))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    import keras

    (x_train, y_train), (x_test, y_test) = load_arrays()
    x_train, x_test = x_train.astype("float32") / 255.0, x_test.astype("float32") / 255.0
    model = MODELS[args.model]()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, validation_split=0.1,
              verbose=2)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    result = {"model": args.model, "epochs": args.epochs, "test_accuracy": accuracy,
              "wall_s": round(time.perf_counter() - start, 2)}
    print(json.dumps(result))
    del keras
    return result


if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("handwritten", main()))
