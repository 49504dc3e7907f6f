"""Character-level LSTM on TFDS tiny_shakespeare (needs internet to download).

Run: ``kdl train char_rnn_shakespeare``."""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="char_rnn_shakespeare",
    model="char_rnn",
    task="char_rnn",
    data="tiny_shakespeare",
    model_args={"embedding_dim": 64, "rnn_units": (512,), "rnn_type": "lstm"},
    description="One 512-unit LSTM over 100-character windows of tiny_shakespeare.",
    normalization=None,
    sequence_length=100,
    optimizer="adam",
    learning_rate=2e-3,
    epochs=30,
    batch_size=64,
    target=0.55,
    target_reference="next-character test accuracy above 0.55",
    smoke_overrides={"sequence_length": 20,
                     "model_args": {"embedding_dim": 16, "rnn_units": (32,), "rnn_type": "gru"}},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
