"""Where kdl is slower than its PyTorch peer, op by op: each op of the recipes alone,
forward and backward at the recipes' batch size, in TensorFlow (what Keras' TensorFlow
trainer runs: a ``tf.function`` with a ``GradientTape``, no XLA on a CPU, as kdl resolves
``jit_compile``) and in PyTorch eager (what ``benchmarks/pytorch_peer.py``'s loop runs),
taking turns window by window in one process, both on the same cores.

The ops are the ones the recipes below 1.0 in ``pytorch_peer`` spend their steps in:
the MLP's dense layers and its Adam update, ResNet-20's 3x3 convolutions at each stage's
width and size (TensorFlow's NHWC against PyTorch's NCHW, its default, and channels-last)
and its batch normalization, LeNet-5's two 5x5 convolutions and its max pooling (below 1.0
on an AVX2-only AMD EPYC, above it on an AVX-512 one), and the fixed cost of one step that does nothing (the
framework's call overhead, which a small model pays every step); and, for LeNet-5's time to
0.90 (whose gap is kdl's first epoch), what each pays before its first step.

    python -m benchmarks.op_repro [--windows 7] [--quick]

Writes ``benchmarks/results/op_repro-MACHINE.json``; docs: performance. Reports, never
asserts: a ratio above 1 means PyTorch runs the op faster.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from benchmarks._common import write_result

BATCH = 128
# name: (kind, shape arguments)
OPS = {
    "dense 784->256, relu": ("dense", (784, 256)),
    "dense 256->128, relu": ("dense", (256, 128)),
    "Adam update, 235k weights (the MLP's)": ("adam", (784 * 256 + 256 * 128 + 128 * 100 + 1000,)),
    # conv: (in channels, out channels, size, kernel, padding)
    "conv 3x3 16->16 at 28x28": ("conv", (16, 16, 28, 3, "same")),
    "conv 3x3 32->32 at 14x14": ("conv", (32, 32, 14, 3, "same")),
    "conv 3x3 64->64 at 7x7": ("conv", (64, 64, 7, 3, "same")),
    "batch norm, 16 channels at 28x28": ("bn", (16, 28)),
    "conv 5x5 1->6 at 28x28, same (LeNet-5's conv1)": ("conv", (1, 6, 28, 5, "same")),
    "max pool 2x2, 6 channels at 28x28 (LeNet-5's pool1)": ("pool", (6, 28)),
    "conv 5x5 6->16 at 14x14, valid (LeNet-5's conv2)": ("conv", (6, 16, 14, 5, "valid")),
    "an empty step (call overhead)": ("empty", ()),
}


def _tf_op(kind, args):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    if kind == "dense":
        n_in, n_out = args
        x = tf.constant(rng.standard_normal((BATCH, n_in), dtype="float32"))
        w = tf.Variable(rng.standard_normal((n_in, n_out), dtype="float32") * 0.05)
        b = tf.Variable(np.zeros(n_out, "float32"))

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(tf.nn.relu(tf.matmul(x, w) + b))
            return tape.gradient(y, [x, w, b])
    elif kind == "conv":
        c_in, c_out, size, kernel, padding = args
        x = tf.constant(rng.standard_normal((BATCH, size, size, c_in), dtype="float32"))
        k = tf.Variable(rng.standard_normal((kernel, kernel, c_in, c_out), dtype="float32") * 0.05)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(tf.nn.conv2d(x, k, 1, padding.upper()))
            return tape.gradient(y, [x, k])
    elif kind == "pool":
        channels, size = args
        x = tf.constant(rng.standard_normal((BATCH, size, size, channels), dtype="float32"))

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(tf.nn.max_pool2d(x, 2, 2, "VALID"))
            return tape.gradient(y, [x])
    elif kind == "bn":
        channels, size = args
        x = tf.constant(rng.standard_normal((BATCH, size, size, channels), dtype="float32"))
        gamma, beta = tf.Variable(tf.ones(channels)), tf.Variable(tf.zeros(channels))

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch(x)
                y, _, _ = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, is_training=True)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, [x, gamma, beta])
    elif kind == "adam":
        import keras

        (n,) = args
        w = keras.Variable(rng.standard_normal(n, dtype="float32"))
        grad = tf.constant(rng.standard_normal(n, dtype="float32") * 1e-3)
        optimizer = keras.optimizers.Adam(1e-3)
        optimizer.build([w])

        @tf.function
        def step():
            optimizer.apply([grad], [w])
    else:
        x = tf.constant(1.0)

        @tf.function
        def step():
            return x + 1.0
    return step


def _torch_op(kind, args, channels_last=False):
    import torch

    rng = np.random.default_rng(0)
    if kind == "dense":
        n_in, n_out = args
        x = torch.tensor(rng.standard_normal((BATCH, n_in), dtype="float32"), requires_grad=True)
        lin = torch.nn.Linear(n_in, n_out)

        def step():
            x.grad, lin.weight.grad, lin.bias.grad = None, None, None  # zero_grad(set_to_none)
            torch.relu(lin(x)).sum().backward()
    elif kind == "conv":
        c_in, c_out, size, kernel, padding = args
        x = torch.tensor(rng.standard_normal((BATCH, c_in, size, size), dtype="float32"))
        conv = torch.nn.Conv2d(c_in, c_out, kernel, padding=padding, bias=False)
        if channels_last:
            x, conv = x.to(memory_format=torch.channels_last), conv.to(
                memory_format=torch.channels_last)
        x.requires_grad_(True)

        def step():
            x.grad, conv.weight.grad = None, None
            conv(x).sum().backward()
    elif kind == "pool":
        channels, size = args
        x = torch.tensor(rng.standard_normal((BATCH, channels, size, size), dtype="float32"),
                         requires_grad=True)

        def step():
            x.grad = None
            torch.nn.functional.max_pool2d(x, 2).sum().backward()
    elif kind == "bn":
        channels, size = args
        x = torch.tensor(rng.standard_normal((BATCH, channels, size, size), dtype="float32"),
                         requires_grad=True)
        bn = torch.nn.BatchNorm2d(channels)

        def step():
            x.grad, bn.weight.grad, bn.bias.grad = None, None, None
            y = bn(x)
            (y * y).sum().backward()
    elif kind == "adam":
        (n,) = args
        w = torch.nn.Parameter(torch.tensor(rng.standard_normal(n, dtype="float32")))
        w.grad = torch.tensor(rng.standard_normal(n, dtype="float32") * 1e-3)
        optimizer = torch.optim.Adam([w], lr=1e-3, eps=1e-7)

        def step():
            optimizer.step()
    else:
        x = torch.tensor(1.0)

        def step():
            return x + 1.0
    return step


def _ms_per_call(step, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        out = step()
    if out is not None and hasattr(out, "__iter__") and not hasattr(out, "numpy"):
        for t in out:  # TensorFlow's results are ready only when read
            _ = t.numpy() if hasattr(t, "numpy") else t
    return (time.perf_counter() - start) * 1000 / calls


def measure(windows: int, calls: int, ops=OPS) -> list[dict]:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    for name, (kind, args) in ops.items():
        runners = {"tensorflow": _tf_op(kind, args), "pytorch": _torch_op(kind, args)}
        if kind == "conv":
            runners["pytorch channels-last"] = _torch_op(kind, args, channels_last=True)
        for step in runners.values():  # warm-up: tracing, kernel selection
            _ms_per_call(step, 3)
        times = {k: [] for k in runners}
        for _ in range(windows):  # taking turns
            for key, step in runners.items():
                times[key].append(_ms_per_call(step, calls))
        ms = {k: round(statistics.median(v), 4) for k, v in times.items()}
        torch_best = min(v for k, v in ms.items() if k != "tensorflow")
        rows.append({"op": name, "ms": ms, "pytorch_speedup": round(ms["tensorflow"] / torch_best, 2)})
    return rows


def first_steps(name: str = "lenet5_fashion_mnist", steps: int = 20) -> dict:
    """The one-time cost a run pays before its first step: kdl's recipe model compiled as
    ``kdl train`` compiles it, its first ``train_on_batch`` (Keras traces the step into a
    TensorFlow graph) against its next ones; the PyTorch peer's first step against its
    next. Seconds."""
    import keras

    from benchmarks.pytorch_peer import Peer
    from kdl.data import load_image_dataset
    from kdl.engine.loop import build_model, compile_model, prepare_data
    from kdl.recipes import get_recipe

    recipe = get_recipe(name)
    out = {}
    start = time.perf_counter()
    data = prepare_data(recipe)
    model = build_model(recipe, data)
    compile_model(model, recipe, data.steps_per_epoch)
    x, y = (keras.ops.convert_to_numpy(t) for t in next(iter(data.train)))
    built = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    steady = (time.perf_counter() - first) / steps
    out["kdl (TensorFlow)"] = {"build_s": round(built - start, 3),
                               "first_step_s": round(first - built, 3),
                               "step_s": round(steady, 4)}
    arrays = load_image_dataset("fashion_mnist", validation_fraction=0.0).arrays
    start = time.perf_counter()
    peer = Peer(recipe, (arrays["train"], arrays["test"]), seed=0)
    built = time.perf_counter()
    peer.train_steps(1)
    first = time.perf_counter()
    peer.train_steps(steps)
    steady = (time.perf_counter() - first) / steps
    out["PyTorch peer"] = {"build_s": round(built - start, 3),
                           "first_step_s": round(first - built, 3), "step_s": round(steady, 4)}
    return {"recipe": name, **out}


def markdown(result: dict) -> str:
    lines = [f"Forward and backward at batch {result['batch']}, float32, ms per call (median "
             f"of {result['windows']} windows of {result['calls']} calls, taking turns); "
             f"PyTorch's speed-up is TensorFlow's time over PyTorch's best layout:", "",
             "| op | TensorFlow ms | PyTorch ms | PyTorch channels-last ms | PyTorch speed-up |",
             "|---|---|---|---|---|"]
    for row in result["rows"]:
        ms = row["ms"]
        last = ms.get("pytorch channels-last")
        lines.append(f"| {row['op']} | {ms['tensorflow']:.3f} | {ms['pytorch']:.3f} | "
                     f"{f'{last:.3f}' if last is not None else '-'} | {row['pytorch_speedup']:.2f} |")
    first = result.get("first_steps")
    if first:
        lines += ["", f"Before the first step ({first['recipe']}, seconds): building the data "
                      f"and model, the first training step (Keras traces it into a graph; "
                      f"PyTorch runs eagerly) and a step after it:", "",
                  "| | build | first step | a later step |", "|---|---|---|---|"]
        for who in ("kdl (TensorFlow)", "PyTorch peer"):
            r = first[who]
            lines.append(f"| {who} | {r['build_s']:.2f} | {r['first_step_s']:.2f} | "
                         f"{r['step_s']:.4f} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=7)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 window of 2 calls")
    args = parser.parse_args(argv)
    windows, calls = (1, 2) if args.quick else (args.windows, args.calls)
    result = {"batch": BATCH, "windows": windows, "calls": calls,
              "rows": measure(windows, calls), "first_steps": first_steps()}
    print(markdown(result))
    print(write_result("op_repro", result, variant="quick" if args.quick else "", argv=argv))
    return result


if __name__ == "__main__":
    main()
