"""Pretraining steps before fine-tuning, by the kind of ``recipe.pretrain``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kdl import callbacks as kdl_callbacks
from kdl.tasks import DataBundle


def _pretrain_sdae(model, recipe, data: DataBundle, verbose: int = 0) -> list:
    from kdl.models import pretrain_stacked_denoising_autoencoder
    from kdl.models.sdae import hidden_layers

    if data.train_arrays is None:
        raise ValueError("SDAE pretraining needs in-memory training data. "
                         f"Received: data={recipe.data!r}")
    x = data.train_arrays[0].astype("float32") / 255.0
    args = dataclasses.asdict(recipe.pretrain)
    # One progress line per pretraining epoch, counted over all layers (for the ETA).
    total = len(hidden_layers(model)) * recipe.pretrain.epochs_per_layer
    progress = kdl_callbacks.epoch_progress(total, prefix="pretraining ", running_count=True,
                                            batch_size=recipe.pretrain.batch_size) \
        if verbose else None
    return pretrain_stacked_denoising_autoencoder(model, x, seed=recipe.seed,
                                                  callbacks=[progress] if progress else None,
                                                  **args)


PRETRAINING: dict[str, Callable] = {"sdae": _pretrain_sdae}


def pretrain(model, recipe, data: DataBundle, verbose: int = 0) -> list | None:
    """Run ``recipe.pretrain`` on ``model`` (None: nothing to do); returns its report."""
    if recipe.pretrain is None:
        return None
    return PRETRAINING[recipe.pretrain.kind](model, recipe, data, verbose)
