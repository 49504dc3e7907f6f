"""VGG16 (batch-norm variant) on Fashion-MNIST at 32x32, with a 512-unit head.

Zalando's row: VGG16 0.935. Run: ``kdl train vgg16_fashion_mnist`` (hours on 2 CPU cores)."""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="vgg16_fashion_mnist",
    model="vgg16",
    model_args={"batch_norm": True, "fc_units": 512, "dropout": 0.5},
    image_size=(32, 32),
    description="VGG16-BN at 32x32, SGD momentum, warm-up cosine, label smoothing, flips and crops.",
    augmentation={"flip": "horizontal", "crop": 2},
    normalization="channel",
    optimizer="momentum",
    learning_rate=0.05,
    schedule="warmup_cosine",
    warmup_epochs=1,
    weight_decay=5e-4,
    label_smoothing=0.1,
    epochs=30,
    batch_size=128,
    target=0.935,
    target_reference="Zalando: VGG16 0.935",
    smoke_overrides={"max_train_examples": 256, "max_test_examples": 128,
                     "model_args": {"batch_norm": True, "fc_units": 32, "width_multiplier": 0.25}},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
