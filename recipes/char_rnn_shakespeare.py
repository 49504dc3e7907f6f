"""Character-level LSTM on TFDS tiny_shakespeare (needs internet to download).

The stdlib recipe with Shakespeare's text and a wider LSTM. Run: ``kdl train char_rnn_shakespeare``."""

from kdl._recipes.char_rnn_pystdlib import RECIPE as BASE

RECIPE = BASE.replace(
    name="char_rnn_shakespeare",
    data="tiny_shakespeare",
    model_args={"embedding_dim": 64, "rnn_units": (512,), "rnn_type": "lstm"},
    description="One 512-unit LSTM over 100-character windows of tiny_shakespeare.",
    epochs=30,
    early_stopping_patience=5,
    target=0.55,
    target_reference="next-character test accuracy above 0.55",
    smoke_overrides={"sequence_length": 20, "max_chars": 20_000,
                     "model_args": {"embedding_dim": 16, "rnn_units": (32,), "rnn_type": "gru"}},
)

if __name__ == "__main__":
    from kdl.cli import run_recipe_file

    run_recipe_file(RECIPE.name)
