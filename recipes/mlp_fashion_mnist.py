"""MLP 256-128-100 on Fashion-MNIST (Zalando's row: 0.8833).

Run: ``kdl train mlp_fashion_mnist``."""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="mlp_fashion_mnist",
    model="mlp",
    model_args={"hidden_units": (256, 128, 100), "dropout": 0.2, "kernel_initializer": "he_normal"},
    description="MLP 256-128-100, ReLU, He init, dropout 0.2, Adam with cosine decay.",
    normalization="channel",
    optimizer="adam",
    learning_rate=1e-3,
    schedule="cosine",
    epochs=30,
    batch_size=128,
    early_stopping_patience=6,
    steps_per_execution=16,  # a small net: per-call overhead dominates (benchmarks/recipe_settings.py)
    target=0.8833,
    target_reference="Zalando: MLP 256-128-100 0.8833",
    smoke_overrides={"max_train_examples": 4096},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
