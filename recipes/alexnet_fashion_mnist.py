"""AlexNet on Fashion-MNIST, upscaled to 64x64 (the smallest input its strides allow
is 63x63). Zalando's row: AlexNet 0.899. Run: ``kdl train alexnet_fashion_mnist``."""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="alexnet_fashion_mnist",
    model="alexnet",
    model_args={"dropout": 0.5, "local_response_normalization": True},
    image_size=(64, 64),
    description="AlexNet with LRN at 64x64, SGD with Nesterov momentum and warm-up cosine.",
    augmentation={"flip": "horizontal", "crop": 2},
    normalization="channel",
    optimizer="nesterov",
    learning_rate=0.01,
    momentum=0.9,
    schedule="warmup_cosine",
    warmup_epochs=1,
    weight_decay=5e-4,
    epochs=20,
    batch_size=128,
    target=0.899,
    target_reference="Zalando: AlexNet 0.899",
    smoke_overrides={"max_train_examples": 512, "max_test_examples": 256},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
