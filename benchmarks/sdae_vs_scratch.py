"""Does greedy layer-wise pretraining help? The SDAE recipe against the same network
trained from scratch on the same fine-tuning budget, on the real Fashion-MNIST.

Runs ``sdae_fashion_mnist`` as it is (pretraining, then fine-tuning) and again with
``pretrain=None``; prints both test accuracies and writes
``benchmarks/results/sdae_vs_scratch-MACHINE.json``; docs: recipes renders both and says what
one seed per arm can support: a comparison of two recipe runs, not the course's claim that
greedy pretraining helps, which ``kdl experiment pretraining`` tests in Erhan et al.'s regime.

    python -m benchmarks.sdae_vs_scratch [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import tempfile

import kdl  # noqa: F401  (sets KERAS_BACKEND)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs")
    args = parser.parse_args(argv)
    from kdl.recipes import get_recipe
    from kdl.engine.loop import train_and_evaluate

    recipe = get_recipe("sdae_fashion_mnist")
    if args.epochs:
        recipe = recipe.replace(epochs=args.epochs)
    out = {}
    for label, r in (("pretrained", recipe), ("scratch", recipe.replace(pretrain=None))):
        result = train_and_evaluate(r, tempfile.mkdtemp(), verbose=0)
        out[label] = {"test_accuracy": result.test_metrics["accuracy"],
                      "epochs_run": result.epochs_run, "wall_s": round(result.wall_s, 1),
                      "pretrain": result.pretrain_report}
        print(json.dumps({label: out[label]}), flush=True)
    out["recipe"] = recipe.to_dict()
    print(json.dumps({"pretrained": out["pretrained"]["test_accuracy"],
                      "scratch": out["scratch"]["test_accuracy"]}))
    return out


if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("sdae_vs_scratch", main()))
