"""VGG16-BN on CIFAR-10 from TFDS. Needs internet for TFDS.

Run: ``kdl train vgg16_cifar10``."""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="vgg16_cifar10",
    model="vgg16",
    data="cifar10",
    model_args={"batch_norm": True, "fc_units": 512, "dropout": 0.5},
    description="VGG16-BN with a 512-unit head, SGD momentum, warm-up cosine, crops and flips.",
    augmentation={"flip": "horizontal", "crop": 4},
    normalization="channel",
    optimizer="momentum",
    learning_rate=0.05,
    schedule="warmup_cosine",
    warmup_epochs=1,
    weight_decay=5e-4,
    epochs=100,
    batch_size=128,
    early_stopping_patience=15,
    target=0.93,
    target_reference="VGG16-BN on CIFAR-10, about 93.5% in common references",
    smoke_overrides={"max_train_examples": 256, "max_test_examples": 128,
                     "model_args": {"batch_norm": True, "fc_units": 32, "width_multiplier": 0.25}},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
