"""ResNet-20 on CIFAR-10 from TFDS, as He et al. 2016 train it (their error: 8.75%).

Needs internet for TFDS. Run: ``kdl train resnet20_cifar10``."""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="resnet20_cifar10",
    model="resnet20",
    data="cifar10",
    description="ResNet-20, SGD momentum 0.9, lr 0.1, weight decay 1e-4, 4-pixel crops and flips.",
    augmentation={"flip": "horizontal", "crop": 4},
    normalization="channel",
    optimizer="momentum",
    learning_rate=0.1,
    schedule="warmup_cosine",
    warmup_epochs=1,
    weight_decay=1e-4,
    epochs=160,
    batch_size=128,
    early_stopping_patience=20,
    target=0.91,
    target_reference="He et al. 2016: 8.75% error",
    smoke_overrides={"max_train_examples": 256, "max_test_examples": 128},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
