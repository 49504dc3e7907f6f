"""ResNet-18 on Fashion-MNIST, upscaled to 32x32 (its stem downsamples 4x).

The ResNet-20 recipe with ResNet-18's model and input size. Zalando's row: ResNet18 0.949.
Run: ``kdl train resnet18_fashion_mnist``."""

from kdl._recipes.resnet20_fashion_mnist import RECIPE as BASE

RECIPE = BASE.replace(
    name="resnet18_fashion_mnist",
    model="resnet18",
    image_size=(32, 32),
    description="ResNet-18 at 32x32, SGD momentum, warm-up cosine, flips and crops.",
    # Its card's settings, not ResNet-20's later 60 epochs, bfloat16 and flip averaging.
    epochs=30,
    precision="float32",
    test_time_flip=False,
    smoke_overrides={"max_train_examples": 256, "max_test_examples": 128,
                     "model_args": {"width_multiplier": 0.25}},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
