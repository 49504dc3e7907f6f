"""ResNet-20 on CIFAR-10 from TFDS, as He et al. 2016 train it (their error: 8.75%).

The Fashion-MNIST recipe with CIFAR-10's data, 4-pixel crops and the paper's 160 epochs.
Needs internet for TFDS. Run: ``kdl train resnet20_cifar10``."""

from kdl._recipes.resnet20_fashion_mnist import RECIPE as BASE

RECIPE = BASE.replace(
    name="resnet20_cifar10",
    data="cifar10",
    description="ResNet-20, SGD momentum 0.9, lr 0.1, weight decay 1e-4, 4-pixel crops and flips.",
    augmentation={"flip": "horizontal", "crop": 4},
    epochs=160,
    early_stopping_patience=20,
    target=0.91,
    target_reference="He et al. 2016: 8.75% error",
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
