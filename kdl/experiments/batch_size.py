"""Batch size: a bigger batch makes each update better and each epoch worse (the course's
mini-batch trade-off; Bottou, Curtis and Nocedal 2018, section 4; Masters and Luschi 2018).

kdl's MLP recipe (256-128-100, ReLU, He init; no dropout here) on a subset of Fashion-MNIST,
trained by plain SGD at one constant learning rate for the same number of epochs at batch
sizes 16 to 1024, with the recipe field ``log_every_n_batches=1``: every batch's own loss,
its update step and the seconds of training (:class:`kdl.callbacks.BatchLossLogger`, the
``batches.csv`` that ``kdl report`` draws). One rate for all is the setting of the claim:
the gradient of a batch of B is an average of B per-example gradients, so its noise shrinks
like ``1/sqrt(B)`` while its cost grows like B; scaling the rate with the batch (Goyal et al.
2017) is a remedy the claim motivates, not part of it.

What is compared, per seed (the same images and initialization for every batch size):

- per update: the loss the largest batch reaches after its last update, against the
  smallest batch's after the same number of updates (each the mean of the last tenth of
  those updates' batch losses): the bigger batch should be lower;
- per epoch (equal examples seen): the mean batch loss of the last epoch: the smaller
  batch should be lower, having made B_large / B_small times more updates;
- noise: the standard deviation of the last epoch's batch losses around their trend (the
  differences of consecutive batches, over sqrt 2), smaller batch over larger, as log10.

Judged as settled before the run, on paired 95% t intervals over 5 seeds: all three
differences above zero (largest better per update, smallest better per epoch, smallest
noisier). The images per second of each batch size, and so each arm's loss against the
seconds of training, are measured and drawn, not judged: they depend on the machine.

What came out (5 seeds, Intel Xeon 6/167 with AMX, ``kdl experiment batch_size --record``,
166 s): supported. After 60 updates (batch 1024's three epochs) its loss was lower than
batch 16's by +0.189 [+0.028, +0.350]; after 3 epochs batch 16's was lower by +0.412
[+0.400, +0.423] (test accuracy 0.849 against 0.728); batch 16's batch losses were 0.77
[0.60, 0.94] log10 (about 6x) noisier, a little more than the 1/sqrt(B) of an average
(0.90 for 64x the batch, less the smaller batch's faster descent). Images a second: 4,401
at batch 16, 52,413 at 1024 (Keras' fixed cost per step, paid 64 times as often), so in
seconds batch 64 and 256 came down fastest. A first record from the same code before a
fix of the figure (its first window drawn flat) said the same within 0.003.

    kdl experiment batch_size
"""

from __future__ import annotations

import tempfile

import numpy as np

from kdl.experiments import register_experiment
from kdl.experiments._common import interval_text, paired_interval
from kdl.plots import pyplot, save_figure


def _train(settings: dict, batch_size: int, seed: int) -> dict:
    import os

    from kdl.callbacks import BATCH_LOG, read_batch_log
    from kdl.engine.loop import train_and_evaluate
    from kdl.recipes import get_recipe

    base = get_recipe("mlp_fashion_mnist")
    recipe = base.replace(
        name="batch_size", max_train_examples=settings["train_examples"],
        max_test_examples=settings["test_examples"], epochs=settings["epochs"],
        batch_size=batch_size, optimizer="sgd", learning_rate=settings["learning_rate"],
        schedule="constant", early_stopping="off", steps_per_execution=1,
        log_every_n_batches=1, seed=seed, smoke_overrides={},
        model_args={**base.model_args, "dropout": 0.0})
    with tempfile.TemporaryDirectory(prefix="kdl-batch-size-") as workdir:
        result = train_and_evaluate(recipe, workdir, verbose=0)
        rows = read_batch_log(os.path.join(workdir, BATCH_LOG))
    return {"step": [r["step"] for r in rows], "seconds": [r["seconds"] for r in rows],
            "loss": [r["loss"] for r in rows], "epoch": [r["epoch"] for r in rows],
            "test_accuracy": float(result.test_metrics["accuracy"]),
            "images_per_second": _throughput(rows, batch_size)}


def _throughput(rows: list[dict], batch_size: int) -> float:
    """Images a second over the last epoch (the first one's includes tracing)."""
    last = max(r["epoch"] for r in rows)
    before = [r["seconds"] for r in rows if r["epoch"] < last]
    in_last = [r for r in rows if r["epoch"] == last]
    start = before[-1] if before else 0.0
    return batch_size * len(in_last) / max(in_last[-1]["seconds"] - start, 1e-9)


def _loss_at(run: dict, updates: int) -> float:
    """The mean batch loss over the last tenth of the first ``updates`` updates."""
    step, loss = np.asarray(run["step"]), np.asarray(run["loss"])
    window = (step > updates - max(1, updates // 10)) & (step <= updates)
    return float(loss[window].mean())


def _last_epoch(run: dict) -> np.ndarray:
    epoch = np.asarray(run["epoch"])
    return np.asarray(run["loss"])[epoch == epoch.max()]


def _noise(run: dict) -> float:
    """The batch-to-batch standard deviation of the last epoch's losses (consecutive
    differences over sqrt 2: the slow trend cancels)."""
    return float(np.std(np.diff(_last_epoch(run))) / np.sqrt(2))


def verdict(numbers: dict, settings: dict) -> tuple[bool, str]:
    small, large = (str(b) for b in (min(settings["batch_sizes"]), max(settings["batch_sizes"])))
    per_update, per_epoch = numbers["large_better_per_update"], numbers["small_better_per_epoch"]
    noise = numbers["small_noisier_log10"]
    checks = [i["low"] is not None and i["low"] > 0 for i in (per_update, per_epoch, noise)]
    speed = numbers["images_per_second"]
    return all(checks), (
        f"after {numbers['updates_compared']} updates, batch {large}'s loss is lower than "
        f"batch {small}'s by {interval_text(per_update)} "
        f"({'above' if checks[0] else 'not above'} zero); after {settings['epochs']} epochs "
        f"batch {small}'s is lower by {interval_text(per_epoch)} "
        f"({'above' if checks[1] else 'not above'} zero); batch {small}'s losses are "
        f"{interval_text(noise, 2)} log10 noisier ({'above' if checks[2] else 'not above'} "
        f"zero); images/s {speed[small]['mean']:,.0f} at {small}, {speed[large]['mean']:,.0f} "
        f"at {large}.")


@register_experiment(
    "batch_size",
    claim="At one learning rate, a bigger batch reaches a lower loss per update and a "
          "higher one per epoch than a smaller batch, whose batch losses are noisier.",
    settings={"batch_sizes": [16, 64, 256, 1024], "train_examples": 20000,
              "test_examples": 5000, "epochs": 3, "learning_rate": 0.05},
    smoke={"batch_sizes": [32, 128], "train_examples": 1024, "test_examples": 256,
           "epochs": 2},
    seeds=5,
    verdict=verdict,
)
def run(settings: dict, seeds: list, figure: str) -> dict:
    sizes = sorted(int(b) for b in settings["batch_sizes"])
    runs = {str(b): [_train(settings, b, seed) for seed in seeds] for b in sizes}
    small, large = str(sizes[0]), str(sizes[-1])
    updates = min(r["step"][-1] for r in runs[large])
    per_update = [_loss_at(s, updates) - _loss_at(lg, updates)
                  for s, lg in zip(runs[small], runs[large], strict=True)]
    per_epoch = [_last_epoch(lg).mean() - _last_epoch(s).mean()
                 for s, lg in zip(runs[small], runs[large], strict=True)]
    noise = [np.log10(_noise(s) / _noise(lg))
             for s, lg in zip(runs[small], runs[large], strict=True)]

    def spread(values):
        return {"mean": float(np.mean(values)), "std": float(np.std(values))}

    numbers = {
        "updates_compared": int(updates),
        "large_better_per_update": paired_interval(per_update),
        "small_better_per_epoch": paired_interval(per_epoch),
        "small_noisier_log10": paired_interval(noise),
        "last_epoch_loss": {b: spread([_last_epoch(r).mean() for r in rs])
                            for b, rs in runs.items()},
        "noise": {b: spread([_noise(r) for r in rs]) for b, rs in runs.items()},
        "images_per_second": {b: spread([r["images_per_second"] for r in rs])
                              for b, rs in runs.items()},
        "test_accuracy": {b: spread([r["test_accuracy"] for r in rs]) for b, rs in runs.items()},
        "updates": {b: int(rs[0]["step"][-1]) for b, rs in runs.items()}}
    numbers["table"] = [{"batch size": int(b), "updates": numbers["updates"][b],
                         "last-epoch loss": numbers["last_epoch_loss"][b]["mean"],
                         "batch-loss noise": numbers["noise"][b]["mean"],
                         "images/s": numbers["images_per_second"][b]["mean"],
                         "test accuracy": numbers["test_accuracy"][b]["mean"]} for b in runs]
    _draw(runs, settings, len(seeds), figure)
    return numbers


def _smoothed(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` averaged over a moving window of a fiftieth of the points."""
    w = max(1, len(y) // 50)
    kernel = np.ones(w) / w
    return np.convolve(x, kernel, "valid"), np.convolve(y, kernel, "valid")


def _draw(runs: dict, settings: dict, n_seeds: int, figure: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(18, 4.8), dpi=100, sharey=True)
    x_keys = (("step", "updates"), ("examples", "images seen (epochs x images)"),
              ("seconds", "seconds of training after the first (traced) update"))
    for b, rs in runs.items():
        color = None
        for ax, (key, label) in zip(axes, x_keys, strict=True):
            xs = [np.asarray(r["step"]) * int(b) if key == "examples" else np.asarray(r[key])
                  for r in rs]
            if key == "seconds":  # from the first update's end: its tracing time apart
                xs = [x - x[0] for x in xs]
            smooth = [_smoothed(x.astype(float), np.asarray(r["loss"], float))
                      for x, r in zip(xs, rs, strict=True)]
            first, last = max(sx[0] for sx, _ in smooth), min(sx[-1] for sx, _ in smooth)
            grid = np.linspace(first, last, 60) if key == "seconds" else \
                np.geomspace(first, last, 60)  # where every seed's smoothed curve has data
            curves = np.array([np.interp(grid, sx, sy) for sx, sy in smooth])
            mean, std = curves.mean(axis=0), curves.std(axis=0)
            (line,) = ax.plot(grid, mean, color=color, label=f"batch {b}")
            color = line.get_color()
            ax.fill_between(grid, mean - std, mean + std, color=color, alpha=0.2)
            ax.set_xscale("linear" if key == "seconds" else "log")
            ax.set_xlabel(label)
            ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"training loss of the batches\n(moving average; mean ± std, {n_seeds} seed(s))")
    axes[0].legend()
    fig.suptitle(f"MLP on {settings['train_examples']} Fashion-MNIST images, plain SGD at "
                 f"{settings['learning_rate']}, {settings['epochs']} epochs each", fontsize=10)
    fig.tight_layout()
    save_figure(fig, figure)
