"""Keras' BatchNormalization against kdl's, inside whole recipes, side by side in one run.

``kdl.layers.BatchNormalization`` is Keras' layer with a training step that broadcasts
over rows instead of over a short channel axis. This trains each recipe's model with
kdl's layer and with Keras' own (``BatchNormalization`` in the model's module swapped),
alternating, and prints images/s (median of timed windows) and their ratio. LeNet-5
uses kdl's layer (1.34x here); the ResNets and VGG keep Keras' (ResNet-20 0.96x).

    python -m benchmarks.batch_norm [--recipes lenet5_fashion_mnist,resnet20_fashion_mnist]
"""

from __future__ import annotations

import argparse
import json
import statistics

import kdl  # noqa: F401  (sets KERAS_BACKEND)

STEPS = {"lenet5_fashion_mnist": 160, "resnet20_fashion_mnist": 20, "vgg16_fashion_mnist": 4,
         "resnet18_fashion_mnist": 8}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="lenet5_fashion_mnist,resnet20_fashion_mnist")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--steps", type=int, help="batches per timed window (default: per recipe)")
    args = parser.parse_args(argv)
    import keras
    from benchmarks.run_all import kdl_throughput

    import kdl.layers
    import kdl.models.lenet
    import kdl.models.resnet
    import kdl.models.vgg
    from kdl.recipes import get_recipe
    from kdl.platform import precision_for, set_precision

    modules = (kdl.models.lenet, kdl.models.resnet, kdl.models.vgg)
    layers = {"kdl": kdl.layers.BatchNormalization, "keras": keras.layers.BatchNormalization}
    # Each module's own choice, put back after each run; None: it names Keras' layer in place.
    own = {module: getattr(module, "BatchNormalization", None) for module in modules}
    out = {}
    for name in args.recipes.split(","):
        recipe = get_recipe(name)
        steps = args.steps or STEPS.get(name, 20)
        spe = recipe.steps_per_execution
        steps = max(spe, steps // spe * spe)
        rates = {which: [] for which in layers}
        for _ in range(args.rounds):
            for which, layer in layers.items():
                for module in modules:
                    module.BatchNormalization = layer
                set_precision(precision_for(recipe))
                try:
                    rate, _, _ = kdl_throughput(recipe, args.windows, steps, 2 * spe)
                finally:
                    set_precision("float32")
                    for module in modules:
                        module.BatchNormalization = own[module]
                rates[which].append(round(rate))
                print(json.dumps({"recipe": name, "layer": which, "images_per_s": round(rate)}),
                      flush=True)
        med = {which: statistics.median(r) for which, r in rates.items()}
        out[name] = {"images_per_s": rates, "median": med,
                     "kdl_over_keras": round(med["kdl"] / med["keras"], 2)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    from benchmarks._common import write_result

    print(write_result("batch_norm", main()))
