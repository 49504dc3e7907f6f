"""ResNet-18 on Fashion-MNIST, upscaled to 32x32 (its stem downsamples 4x).

Zalando's row: ResNet18 0.949. Run: ``kdl train resnet18_fashion_mnist``."""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="resnet18_fashion_mnist",
    model="resnet18",
    image_size=(32, 32),
    description="ResNet-18 at 32x32, SGD momentum, warm-up cosine, flips and crops.",
    augmentation={"flip": "horizontal", "crop": 2},
    normalization="channel",
    optimizer="momentum",
    learning_rate=0.1,
    schedule="warmup_cosine",
    warmup_epochs=1,
    weight_decay=1e-4,
    epochs=30,
    batch_size=128,
    early_stopping_patience=8,
    target=0.949,
    target_reference="Zalando: ResNet18 0.949",
    smoke_overrides={"max_train_examples": 256, "max_test_examples": 128,
                     "model_args": {"width_multiplier": 0.25}},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
