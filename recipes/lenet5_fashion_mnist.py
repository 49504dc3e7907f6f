"""LeNet-5 on Fashion-MNIST: the default recipe (`make demo`).

Zalando's row "2 Conv+pooling": 0.916. Run: ``kdl train lenet5_fashion_mnist`` or
``python recipes/lenet5_fashion_mnist.py``.
"""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="lenet5_fashion_mnist",
    model="lenet5",
    data="fashion_mnist",
    description="LeNet-5 as in the course (ReLU, max pooling), with batch normalization after "
                "each convolution's pooling; Adam with cosine decay, label smoothing, "
                "horizontal flips, weight averaging, flip-averaged predictions.",
    # Batch norm: so that every seed passes the target, not only the mean (the card).
    # After pooling: the same function on a quarter of the elements (benchmarks/batch_norm.py).
    model_args={"batch_norm": True, "batch_norm_position": "after_pooling"},
    augmentation={"flip": "horizontal"},
    normalization="channel",
    optimizer="adam",
    # 4e-3 with label smoothing: sooner to 0.90 than 2e-3 without, same final row or
    # better (benchmarks/accuracy_curve.py --stop-after 4, the card).
    learning_rate=4e-3,
    label_smoothing=0.1,
    schedule="cosine",
    epochs=30,
    batch_size=128,
    steps_per_execution=16,  # one tf.function call per 16 steps: faster for this small net
    ema=0.99,  # weight averaging, folded in each epoch
    test_time_flip=True,  # predictions averaged over the image and its mirror image
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
