"""Dense autoencoder (784-256-32-256-784) on Fashion-MNIST; test metric: MSE on
pixels in [0, 1]. Run: ``kdl train autoencoder_fashion_mnist``."""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="autoencoder_fashion_mnist",
    model="autoencoder",
    task="autoencoder",
    model_args={"hidden_units": (256,), "code_size": 32},
    description="Dense autoencoder, 32-unit code, sigmoid output, MSE, Adam.",
    normalization="scale",
    optimizer="adam",
    learning_rate=1e-3,
    epochs=30,
    batch_size=128,
    target_metric="loss",
    target=0.015,
    target_reference="test MSE below 0.015",
    smoke_overrides={"max_train_examples": 4096},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
