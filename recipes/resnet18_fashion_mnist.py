"""ResNet-18 on Fashion-MNIST at 32x32, with the small-image stem.

The ResNet-20 recipe (flips, crops, random erasing, warm-up cosine) with ResNet-18's model
at 32x32 and ``stem="small"``: one 3x3 stride-1 convolution and no max pool, as the CIFAR
ResNet-18s in the literature, where the ImageNet stem (7x7 stride 2, max pool) would keep
an 8x8 map of a 32x32 image for the first stage. Zalando's row: ResNet18 0.949.
Run: ``kdl train resnet18_fashion_mnist`` (a GPU's minutes; days of 2 CPU cores:
docs: recipes).
"""

from kdl._recipes.resnet20_fashion_mnist import RECIPE as BASE

RECIPE = BASE.replace(
    name="resnet18_fashion_mnist",
    model="resnet18",
    # The small stem: it reached the row where the ImageNet stem did not (three seeds on a
    # GPU, benchmarks/accelerator_curve.py; docs: recipes).
    model_args={"stem": "small"},
    image_size=(32, 32),
    description="ResNet-18 with the small-image stem at 32x32, SGD momentum, warm-up cosine, "
                "flips, crops and random erasing, flip-averaged predictions.",
    epochs=30,
    precision="float32",  # as measured
    test_time_flip=True,
    smoke_overrides={"max_train_examples": 256, "max_test_examples": 128,
                     "model_args": {"stem": "small", "width_multiplier": 0.25}},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
