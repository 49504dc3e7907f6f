"""Stacked denoising autoencoder (Vincent et al. 2010) on Fashion-MNIST: greedy
layer-wise pretraining with masking noise, then fine-tuning as a classifier.
Compared with Zalando's MLP row (0.8833). Run: ``kdl train sdae_fashion_mnist``."""

from kdl.recipes import Recipe, SDAEPretraining

RECIPE = Recipe(
    name="sdae_fashion_mnist",
    model="stacked_denoising_autoencoder",
    model_args={"hidden_units": (500, 500, 500), "activation": "sigmoid"},
    description="SDAE 500-500-500 sigmoid, 25% masking noise, 5 pretraining epochs per layer.",
    normalization="scale",
    pretrain=SDAEPretraining(epochs_per_layer=5, corruption="masking", corruption_level=0.25,
                             batch_size=256),
    optimizer="adam",
    learning_rate=1e-3,
    schedule="cosine",
    epochs=30,
    batch_size=128,
    early_stopping_patience=6,
    target=0.8833,
    target_reference="Zalando: MLP 256-128-100 0.8833",
    smoke_overrides={"max_train_examples": 2048,
                     "model_args": {"hidden_units": (64, 32), "activation": "sigmoid"}},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
