"""VGG16-BN on CIFAR-10 from TFDS: the Fashion-MNIST recipe with CIFAR-10's data.

Needs internet for TFDS. Run: ``kdl train vgg16_cifar10``."""

from kdl._recipes.vgg16_fashion_mnist import RECIPE as BASE

RECIPE = BASE.replace(
    name="vgg16_cifar10",
    data="cifar10",
    image_size=None,
    description="VGG16-BN with a 512-unit head, SGD momentum, warm-up cosine, crops and flips.",
    augmentation={"flip": "horizontal", "crop": 4},
    epochs=100,
    early_stopping_patience=15,
    target=0.93,
    target_reference="VGG16-BN on CIFAR-10, about 93.5% in common references",
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
