"""Character-level LSTM on the Python standard library's own source (offline).

Run: ``kdl train char_rnn_pystdlib``; sample with ``kdl.models.generate``."""

from kdl.recipes import Recipe

RECIPE = Recipe(
    name="char_rnn_pystdlib",
    model="char_rnn",
    task="char_rnn",
    data="text:pystdlib",
    model_args={"embedding_dim": 64, "rnn_units": (256,), "rnn_type": "lstm"},
    description="One 256-unit LSTM over 100-character windows of 1M characters of stdlib source.",
    normalization=None,
    sequence_length=100,
    max_chars=1_000_000,
    optimizer="adam",
    learning_rate=2e-3,
    epochs=10,
    batch_size=64,
    early_stopping_patience=3,
    target=0.6,
    target_reference="next-character test accuracy above 0.6",
    smoke_overrides={"max_chars": 30_000,
                     "model_args": {"embedding_dim": 16, "rnn_units": (32,), "rnn_type": "gru"}},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
