"""ResNet-20 (He et al. 2016, CIFAR form) on Fashion-MNIST at 28x28.

Compared with Zalando's ResNet18 row (0.949). Run: ``kdl train resnet20_fashion_mnist``."""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="resnet20_fashion_mnist",
    model="resnet20",
    description="ResNet-20 (option-A shortcuts), SGD momentum, warm-up cosine, flips, crops "
                "and random erasing, bfloat16 where it pays, flip-averaged predictions.",
    # Random erasing (Zhong et al. 2020, p=0.5): without it the recipe overfit and more
    # epochs did not reach the row (docs: recipes).
    augmentation={"flip": "horizontal", "crop": 2, "erasing": 0.5},
    normalization="channel",
    optimizer="momentum",
    learning_rate=0.1,
    schedule="warmup_cosine",
    warmup_epochs=1,
    weight_decay=1e-4,
    epochs=60,  # the budget its card ran (docs: recipes)
    batch_size=128,
    # bfloat16 where it trains faster: on CPUs with AMX only (kdl.platform.precision_for;
    # benchmarks/mixed_precision.py).
    precision="auto",
    test_time_flip=True,
    early_stopping_patience=8,
    target=0.949,
    target_reference="Zalando: ResNet18 0.949",
    smoke_overrides={"max_train_examples": 512, "max_test_examples": 256},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
