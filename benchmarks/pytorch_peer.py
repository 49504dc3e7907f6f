"""kdl against the peer a user would pick instead: each Fashion-MNIST recipe written in
plain PyTorch the way a PyTorch user writes it, measured side by side in one run.

The peer of each recipe has the same architecture and initialisation scheme (Keras'
Glorot-uniform or He-normal kernels, zero biases), optimizer (Keras' epsilon), schedule
(stepped per batch), loss, batch size, augmentation (done on the CPU in the loop, on the
whole batch at once: flips, padded crops, erasing as the recipe names them), weight
averaging (an EMA of the weights copied in at each epoch's end, as Keras'
``ema_overwrite_frequency`` does) and test-time flip averaging; the same 10% validation
carve and per-channel normalization; ``torch.set_num_threads`` at the cores kdl gets.

1. Training images/s per recipe: the median of timed windows after a warm-up, kdl
   (``benchmarks.run_all.kdl_throughput``: the recipe as ``kdl train`` trains it) and the
   peer alternating, ``--rounds`` times.
2. LeNet-5's time to 0.90 test accuracy: training seconds (evaluation excluded) until the
   flip-averaged test accuracy first reaches 0.90, for seeds 0-2, kdl and the peer
   alternating; the median, and each run's accuracy after the same epochs, so that the peer
   is checked to be the same learner (its accuracy within noise of kdl's).

Writes ``benchmarks/results/pytorch_peer-MACHINE.json``; ``make docs`` renders it.

    python -m benchmarks.pytorch_peer [--quick] [--recipes lenet5_fashion_mnist,...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time

import numpy as np

import kdl  # noqa: F401  (sets KERAS_BACKEND)
from benchmarks._common import RESULTS, write_result

RECIPES = ("mlp_fashion_mnist", "lenet5_fashion_mnist", "resnet20_fashion_mnist")
STEPS_PER_WINDOW = {"mlp_fashion_mnist": 1000, "lenet5_fashion_mnist": 400,
                    "resnet20_fashion_mnist": 40}
SEEDS = (0, 1, 2)


# --- the peers ----------------------------------------------------------------------------

def _init(module, kernel: str) -> None:
    import torch

    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
            if kernel == "he_normal":
                # Keras' he_normal: a normal truncated at 2 standard deviations, scaled so
                # that the variance is 2 / fan_in (the 0.8796 undoes the truncation).
                std = math.sqrt(2.0 / m.weight[0].numel()) / 0.87962566103423978
                torch.nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            else:
                torch.nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)


def lenet5():
    from torch import nn

    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(6, eps=1e-3,
                                                                                 momentum=0.01),
        nn.ReLU(),
        nn.Conv2d(6, 16, 5, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(16, eps=1e-3,
                                                                         momentum=0.01),
        nn.ReLU(), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    _init(model, "glorot_uniform")
    return model


def mlp():
    from torch import nn

    layers, width = [nn.Flatten()], 784
    for units in (256, 128, 100):
        layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(0.2)]
        width = units
    model = nn.Sequential(*layers, nn.Linear(width, 10))
    _init(model, "he_normal")
    return model


def resnet20():
    """The CIFAR ResNet-20 of He et al. (2016, section 4.2) with option-A shortcuts
    (strided identity, zero-padded channels), as kdl's ``resnet20``."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)
            self.stride, self.pad = stride, cout - cin

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            shortcut = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
            if self.pad:
                shortcut = nn.functional.pad(shortcut, (0, 0, 0, 0, 0, self.pad))
            return torch.relu(y + shortcut)

    blocks, cin = [], 16
    for i, cout in enumerate((16, 32, 64)):
        for j in range(3):
            blocks.append(Block(cin, cout, 2 if i > 0 and j == 0 else 1))
            cin = cout
    model = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False),
                          nn.BatchNorm2d(16, eps=1e-3, momentum=0.01), nn.ReLU(), *blocks,
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    _init(model, "he_normal")
    return model


PEERS = {"mlp_fashion_mnist": mlp, "lenet5_fashion_mnist": lenet5,
         "resnet20_fashion_mnist": resnet20}


def augment(x, recipe, generator):
    """The recipe's augmentation on a batch ``[N, C, H, W]``, vectorized, on the CPU."""
    import torch

    aug = recipe.augmentation
    n, _, h, w = x.shape
    if aug.get("flip") == "horizontal":
        flip = torch.rand(n, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if aug.get("crop"):
        p = int(aug["crop"])
        padded = torch.nn.functional.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, x.shape[1], h, w + 2 * p)
        x = padded.gather(2, rows)
        cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, x.shape[1], h, w)
        x = x.gather(3, cols)
    if aug.get("erasing"):
        area = torch.empty(n).uniform_(0.02, 0.33, generator=generator) * h * w
        ratio = torch.exp(torch.empty(n).uniform_(math.log(0.3), math.log(3.3),
                                                  generator=generator))
        eh = (area * ratio).sqrt().clamp(1, h).long()
        ew = (area / ratio).sqrt().clamp(1, w).long()
        y0 = (torch.rand(n, generator=generator) * (h - eh + 1)).long()
        x0 = (torch.rand(n, generator=generator) * (w - ew + 1)).long()
        r, c = torch.arange(h)[None, :], torch.arange(w)[None, :]
        box = ((r >= y0[:, None]) & (r < (y0 + eh)[:, None]))[:, :, None] & \
            ((c >= x0[:, None]) & (c < (x0 + ew)[:, None]))[:, None, :]
        apply = torch.rand(n, generator=generator) < float(aug["erasing"])
        x = torch.where((box & apply[:, None, None])[:, None], torch.zeros((), dtype=x.dtype), x)
    return x


class Peer:
    """One recipe's PyTorch training loop, from the recipe's own settings."""

    def __init__(self, recipe, arrays, seed: int):
        import torch

        from kdl.data.sources import carve_validation

        torch.manual_seed(seed)
        self.recipe, self.seed = recipe, seed
        self.generator = torch.Generator().manual_seed(seed)
        (x, y), (xt, yt) = arrays
        (x, y), _ = carve_validation(x, y, recipe.validation_fraction, seed)
        x = torch.from_numpy(np.array(x.transpose(0, 3, 1, 2))).float()
        mean, std = x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True)
        self.x = (x - mean) / std
        self.y = torch.from_numpy(y.astype("int64"))
        xt = torch.from_numpy(np.array(xt.transpose(0, 3, 1, 2))).float()
        self.xt, self.yt = (xt - mean) / std, torch.from_numpy(yt.astype("int64"))
        self.model = PEERS[recipe.name]()
        self.steps_per_epoch = -(-len(self.y) // recipe.batch_size)
        self.optimizer, self.schedule = self._optimizer()
        self.loss = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        self.ema = None
        if recipe.ema:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema))

    def _optimizer(self):
        import torch

        r, total = self.recipe, self.recipe.epochs * self.steps_per_epoch
        params = self.model.parameters()
        if r.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=r.learning_rate, eps=1e-7)
        else:  # "momentum": SGD with momentum, decoupled weight decay as Keras applies it
            opt = torch.optim.SGD(params, lr=r.learning_rate, momentum=r.momentum)
        warm = r.warmup_epochs * self.steps_per_epoch if r.schedule == "warmup_cosine" else 0

        def factor(step):
            if step < warm:
                return (step + 1) / warm
            if r.schedule in ("cosine", "warmup_cosine"):
                return 0.5 * (1 + math.cos(math.pi * min(step - warm, total - warm)
                                           / max(total - warm, 1)))
            return 1.0

        return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)

    def train_steps(self, steps: int, on_step=None):
        """``steps`` training steps over shuffled batches (an epoch's end where one falls)."""
        import torch

        self.model.train()
        done = 0
        while done < steps:
            order = torch.randperm(len(self.y), generator=self.generator)
            for start in range(0, len(order), self.recipe.batch_size):
                index = order[start:start + self.recipe.batch_size]
                x = augment(self.x[index], self.recipe, self.generator)
                self.optimizer.zero_grad(set_to_none=True)
                loss = self.loss(self.model(x), self.y[index])
                loss.backward()
                if self.recipe.weight_decay:
                    with torch.no_grad():
                        lr = self.optimizer.param_groups[0]["lr"]
                        for p in self.model.parameters():
                            p.mul_(1 - lr * self.recipe.weight_decay)
                self.optimizer.step()
                self.schedule.step()
                if self.ema is not None:
                    self.ema.update_parameters(self.model)
                done += 1
                if on_step is not None:
                    on_step(done)
                if done >= steps:
                    return
            self.end_of_epoch()

    def end_of_epoch(self):
        import torch

        if self.ema is not None:  # Keras' ema_overwrite_frequency: the averages copied in
            with torch.no_grad():
                for p, a in zip(self.model.parameters(), self.ema.module.parameters(), strict=True):
                    p.copy_(a)

    def test_accuracy(self) -> float:
        import torch

        self.model.eval()
        correct = 0
        with torch.no_grad():
            for start in range(0, len(self.yt), 1024):
                x = self.xt[start:start + 1024]
                p = torch.softmax(self.model(x), -1)
                if self.recipe.test_time_flip:
                    p = (p + torch.softmax(self.model(x.flip(3)), -1)) / 2
                correct += int((p.argmax(-1) == self.yt[start:start + 1024]).sum())
        return correct / len(self.yt)


# --- the measurements ---------------------------------------------------------------------

def peer_throughput(recipe, arrays, windows: int, steps: int, warmup: int) -> float:
    peer = Peer(recipe, arrays, seed=0)
    rates, state = [], {"t": None, "start": None}

    def on_step(done):
        if state["t"] is None:
            if done >= warmup:
                state["t"], state["start"] = time.perf_counter(), done
            return
        if done - state["start"] >= steps:
            now = time.perf_counter()
            rates.append((done - state["start"]) * recipe.batch_size / (now - state["t"]))
            state["t"], state["start"] = now, done

    peer.train_steps(warmup + windows * steps + 1, on_step)
    return statistics.median(rates)


def peer_time_to_accuracy(recipe, arrays, seed: int, target: float = 0.90) -> dict:
    peer = Peer(recipe.replace(seed=seed), arrays, seed)
    state = {"train_s": 0.0, "reached": None, "curve": [], "seed": seed}
    for epoch in range(recipe.epochs):
        start = time.perf_counter()
        peer.train_steps(peer.steps_per_epoch)
        peer.end_of_epoch()
        state["train_s"] += time.perf_counter() - start
        accuracy = peer.test_accuracy()
        state["curve"].append((epoch + 1, round(state["train_s"], 1), round(accuracy, 4)))
        if accuracy >= target:
            state["reached"] = round(state["train_s"], 1)
            break
    return state


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few steps, no "
                                                             "time to accuracy")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    import torch

    from benchmarks.run_all import kdl_throughput, time_to_accuracy
    from kdl.data import load_image_dataset
    from kdl.recipes import get_recipe

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    data = load_image_dataset("fashion_mnist", validation_fraction=0.0)
    arrays = (data.arrays["train"], data.arrays["test"])
    windows, warmup, rounds = (2, 3, 1) if args.quick else (5, 20, args.rounds)
    rows = []
    for name in args.recipes.split(","):
        recipe = get_recipe(name)
        steps = 5 if args.quick else STEPS_PER_WINDOW[name]
        kdl_rates, peer_rates = [], []
        for _ in range(rounds):  # alternating
            kdl_rates.append(kdl_throughput(recipe, windows, steps, warmup)[0])
            peer_rates.append(peer_throughput(recipe, arrays, windows, steps, warmup))
        row = {"recipe": name, "batch_size": recipe.batch_size,
               "augmentation": ", ".join(recipe.augmentation) or "none",
               "kdl_images_per_s": round(statistics.median(kdl_rates)),
               "pytorch_images_per_s": round(statistics.median(peer_rates)),
               "kdl_rounds": [round(r) for r in kdl_rates],
               "pytorch_rounds": [round(r) for r in peer_rates]}
        row["ratio"] = round(row["kdl_images_per_s"] / row["pytorch_images_per_s"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"throughput": rows, "threads": threads, "torch": torch.__version__}
    if not args.quick and "lenet5_fashion_mnist" in args.recipes.split(","):
        recipe = get_recipe("lenet5_fashion_mnist")
        runs = {"kdl": [], "pytorch": []}
        for seed in SEEDS:
            runs["kdl"].append(time_to_accuracy(seed=seed))
            runs["pytorch"].append(peer_time_to_accuracy(recipe, arrays, seed))
            print(json.dumps({"seed": seed, "kdl": runs["kdl"][-1]["reached"],
                              "pytorch": runs["pytorch"][-1]["reached"]}), flush=True)
        medians = {k: statistics.median(r["reached"] if r["reached"] is not None else math.inf
                                        for r in v) for k, v in runs.items()}
        result["time_to_accuracy"] = {
            "target": 0.90, "seeds": list(SEEDS), "runs": runs,
            "median_s": medians,
            "ratio": round(medians["pytorch"] / medians["kdl"], 2)
            if math.isfinite(medians["kdl"]) and math.isfinite(medians["pytorch"]) else None}
    result["path"] = write_result("pytorch_peer", result, variant="quick" if args.quick else "",
                                  argv=argv, out=args.out)
    print(markdown(result))
    return result


def markdown(result: dict) -> str:
    lines = ["| recipe | augmentation | kdl images/s | PyTorch images/s | kdl / PyTorch |",
             "|---|---|---|---|---|"]
    for r in result["throughput"]:
        lines.append(f"| `{r['recipe']}` | {r['augmentation']} | {r['kdl_images_per_s']:,} | "
                     f"{r['pytorch_images_per_s']:,} | {r['ratio']:.2f} |")
    tta = result.get("time_to_accuracy")
    if tta:
        lines += ["", f"LeNet-5 to {tta['target']} test accuracy (training seconds, median of "
                      f"seeds {', '.join(map(str, tta['seeds']))}): kdl {tta['median_s']['kdl']} s, "
                      f"PyTorch {tta['median_s']['pytorch']} s; PyTorch / kdl "
                      f"{tta['ratio'] if tta['ratio'] is not None else '-'} (above 1: kdl sooner)."]
        lines += ["", "| seed | kdl: s (epochs) | PyTorch: s (epochs) | accuracy at the same epoch: "
                      "kdl, PyTorch |", "|---|---|---|---|"]
        for k, p in zip(tta["runs"]["kdl"], tta["runs"]["pytorch"], strict=True):
            both = min(len(k["curve"]), len(p["curve"]))
            lines.append(f"| {k['seed']} | {k['reached']} ({len(k['curve'])}) | {p['reached']} "
                         f"({len(p['curve'])}) | {k['curve'][both - 1][2]:.4f}, "
                         f"{p['curve'][both - 1][2]:.4f} (epoch {both}) |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
