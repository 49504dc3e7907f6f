"""LeNet-5 on Fashion-MNIST: the default recipe (`make demo`).

Zalando's row "2 Conv+pooling": 0.916. Run: ``kdl train lenet5_fashion_mnist`` or
``python recipes/lenet5_fashion_mnist.py``.
"""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="lenet5_fashion_mnist",
    model="lenet5",
    data="fashion_mnist",
    description="LeNet-5 (ReLU, max pooling), Adam with cosine decay, flips and crops.",
    augmentation={"flip": "horizontal", "crop": 2},
    normalization="channel",
    optimizer="adam",
    learning_rate=2e-3,
    schedule="cosine",
    epochs=20,
    batch_size=128,
    early_stopping_patience=5,
    monitor_activations=True,
    target_metric="accuracy",
    target=0.916,
    target_reference="Zalando: 2 Conv+pooling 0.916",
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
