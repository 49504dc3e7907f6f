"""LeNet-5 on Fashion-MNIST: the default recipe (`make demo`).

Zalando's row "2 Conv+pooling": 0.916. Run: ``kdl train lenet5_fashion_mnist`` or
``python recipes/lenet5_fashion_mnist.py``.
"""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="lenet5_fashion_mnist",
    model="lenet5",
    data="fashion_mnist",
    model_args={"batch_norm": True, "dropout": 0.2},
    description="LeNet-5 (ReLU, max pooling) with batch norm and dropout 0.2, Adam with "
                "cosine decay, horizontal flips.",
    augmentation={"flip": "horizontal"},
    normalization="channel",
    optimizer="adam",
    learning_rate=3e-3,
    schedule="cosine",
    epochs=30,
    batch_size=128,
    early_stopping_monitor="val_accuracy",
    early_stopping_patience=8,
    monitor_activations=True,
    target_metric="accuracy",
    target=0.916,
    target_reference="Zalando: 2 Conv+pooling 0.916",
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
