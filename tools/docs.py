"""``make docs``: render every generated table of the docs and the README from the data that
runs wrote (recipe cards, experiment JSON, benchmark JSON) and from the registries, then
``mkdocs build --strict`` builds the site. Running it twice changes nothing.

    PYTHONPATH=. python tools/docs.py          # rewrite the generated blocks in place
    PYTHONPATH=. python tools/docs.py --check  # exit 1 if a block is out of date

A generated block is the text between ``<!-- generated:NAME -->`` and ``<!-- /generated -->``.
Nothing in the library writes a page: this is the only writer.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
RESULTS = os.path.join(ROOT, "benchmarks", "results")
BLOCK = re.compile(r"(<!-- generated:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.S)


def _load(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def _results(script: str) -> list[tuple[str, dict]]:
    """``benchmarks/results/SCRIPT-*.json``, sorted by name (variants such as -quick- too)."""
    return [(os.path.basename(p), _load(p))
            for p in sorted(glob.glob(os.path.join(RESULTS, f"{script}-*.json")))]


# --- blocks --------------------------------------------------------------------------------

def readme_recipes() -> str:
    from kdl.cards import load_card, metric_text
    from kdl.recipes import get_recipe, list_recipes, target_text

    lines = ["| recipe | target | measured: mean ± std (n seeds) | met |", "|---|---|---|---|"]
    for name in list_recipes():
        recipe, card = get_recipe(name), load_card(name)
        target = target_text(recipe.target_metric, recipe.target) if recipe.target is not None else "-"
        measured = metric_text(card, recipe.target_metric) if card else "not yet run"
        met = {True: "yes", False: "no", None: "-"}[card.get("target_met")] if card else "-"
        lines.append(f"| `{name}` | {target} | {measured} | {met} |")
    return "\n".join(lines)


def cards() -> str:
    from kdl.cards import cards_table

    return cards_table()


def stories() -> str:
    """Each recipe's short story: its description and the row it is measured against."""
    from kdl.recipes import get_recipe, list_recipes

    lines = []
    for name in list_recipes():
        r = get_recipe(name)
        reference = f" Measured against {r.target_reference}." if r.target_reference else ""
        lines.append(f"- **`{name}`** (`{r.model}` on `{r.data}`, {r.epochs} epochs): "
                     f"{r.description}{reference}")
    return "\n".join(lines)


def experiments() -> str:
    from kdl.experiments import get_experiment, list_experiments

    lines = []
    for name in list_experiments():
        path = os.path.join(DOCS, "experiments", f"{name}.json")
        if not os.path.exists(path):
            lines.append(f"### {name}\n\nClaim: {get_experiment(name).claim} Not yet recorded.\n")
            continue
        r = _load(path)
        verdict = "supported" if r["supported"] else "NOT supported"
        machine = r.get("machine", "an Intel Xeon (not recorded then)")
        lines.append(f"### {name}\n\n{len(r['seeds'])} seed(s), {r['seconds']:.0f} s on {machine}, "
                     f"`kdl experiment {name} --record`. Claim: {r['claim']} "
                     f"Verdict: **{verdict}**: {r['verdict']}\n\n"
                     f"![{name}](experiments/{name}.png)\n")
    return "\n".join(lines)


def recipe_fields() -> str:
    from kdl.recipes import Recipe

    lines = ["| field | type | default |", "|---|---|---|"]
    for f in dataclasses.fields(Recipe):
        if f.default is not dataclasses.MISSING:
            default = f"`{f.default!r}`"
        elif f.default_factory is not dataclasses.MISSING:
            default = f"`{f.default_factory()!r}`"
        else:
            default = "required"
        kind = str(f.type).replace("|", "or")
        lines.append(f"| `{f.name}` | {kind} | {default} |")
    return "\n".join(lines)


def models() -> str:
    from kdl.models import get_model, list_models
    from kdl.models._registry import get_model_builder

    lines = ["| model | family module | parameters (defaults) | what it is |", "|---|---|---|---|"]
    for name in list_models():
        builder = get_model_builder(name)
        doc = (builder.__doc__ or "").strip().split("\n")[0].rstrip(".")
        params = get_model(name).count_params()
        lines.append(f"| `{name}` | `{builder.__module__}` | {params:,} | {doc} |")
    return "\n".join(lines)


def bench() -> str:
    from benchmarks import run_all

    out = []
    for name, results in _results("run_all"):
        out.append(f"From `benchmarks/results/{name}` (`{results['benchmark']['command']}`, "
                   f"{results['benchmark'].get('date')}):\n\n{run_all.markdown(results)}\n")
    return "\n".join(out) or "No `make bench` result recorded yet."


def _rendered(script: str, detail=lambda r: "") -> str:
    """Each recorded result of ``benchmarks/SCRIPT.py`` (quick runs left out): where it
    came from (file, command, machine, date, ``detail``), then its own ``markdown``."""
    import importlib

    bench = importlib.import_module(f"benchmarks.{script}")
    out = []
    for name, r in _results(script):
        if "-quick-" in name:
            continue
        b = r["benchmark"]
        out.append(f"From `benchmarks/results/{name}` (`{b['command']}`, {b['machine']}, "
                   f"{b.get('date')}{detail(r)}):\n\n{bench.markdown(r)}\n")
    return "\n".join(out) or f"No `python -m benchmarks.{script}` result recorded yet."


def serving() -> str:
    return _rendered("serving")


def lr_find() -> str:
    """Each recorded `kdl lr-find` (docs/lr_find/RECIPE/lr_find.json) and its figure."""
    import glob

    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "lr_find", "*", "lr_find.json"))):
        with open(path) as f:
            r = json.load(f)

        def rate(value):
            return "-" if value is None else f"{value:.2g}"

        name = r["recipe"]
        out.append(f"`kdl lr-find {name} --out docs/lr_find/{name}` ({r['machine']}, "
                   f"{r['started_at'][:10]}): {len(r['losses'])} batches from "
                   f"{r['rates'][0]:.0e} to {r['rates'][-1]:.2g}; steepest fall at "
                   f"{rate(r['suggested'])}, minimum / 10 {rate(r['min_over_ten'])}, diverged "
                   f"at {rate(r['diverged_at'])}; the recipe trains at "
                   f"{r['config']['learning_rate']:g}.\n\n"
                   f"![learning-rate range test of {name}](lr_find/{name}/lr_find.png)\n")
    return "\n".join(out) or "No `kdl lr-find` recorded yet."


def feed() -> str:
    return _rendered("feed")


def op_repro() -> str:
    return _rendered("op_repro")


def backends() -> str:
    from benchmarks import backends as bench_backends

    out = [f"From `benchmarks/results/{name}`:\n\n{bench_backends.markdown(results)}\n"
           for name, results in _results("backends")]
    return "\n".join(out) or "No backend result recorded yet."


def pytorch_peer() -> str:
    return _rendered("pytorch_peer", lambda r: f"; PyTorch {r['torch']}, {r['threads']} threads")


def folder_memory() -> str:
    return _rendered("folder_memory")


def finetune() -> str:
    return _rendered("finetune_digits",
                     lambda r: f"; {r['epochs']} epochs, {r['test_images']} test images")


def readme_finetune() -> str:
    out = []
    for _, r in _results("finetune_digits"):
        for k in sorted({s["labels_per_class"] for s in r["summary"]}):
            arms = {s["arm"]: s for s in r["summary"] if s["labels_per_class"] == k}
            scratch, tuned = arms["scratch"], arms["fine-tune"]
            gain = tuned["gain"]
            interval = f" [{gain['low']:+.3f}, {gain['high']:+.3f}]" if gain["low"] is not None else ""
            out.append(f"- {k} labels per class: test accuracy {tuned['mean']:.3f} fine-tuned, "
                       f"{scratch['mean']:.3f} from scratch: a gain of {gain['mean']:+.3f}"
                       f"{interval} (95%, {tuned['n']} seeds, {r['benchmark']['machine']})")
    return "\n".join(out) or "Not measured yet (`python -m benchmarks.finetune_digits`)."


def weights() -> str:
    from kdl.card_store import cards_with_weights, load_card

    lines = ["| card | model | parameters | input | seed | test metric of these weights | "
             "file | SHA-256 | machine |", "|---|---|---|---|---|---|---|---|---|"]
    for name, entry in cards_with_weights():
        card = load_card(name)
        metric = card.get("target_metric", "accuracy")
        value = entry["test_metrics"].get(metric)
        lines.append(f"| `{name}` | `{card['config']['model']}` | {entry['params']:,} | "
                     f"{'x'.join(map(str, entry['input_shape']))} | {entry['seed']} | "
                     f"{metric} {value:.4f} | `{entry['file']}` | `{entry['sha256'][:16]}...` | "
                     f"{card.get('machine', '-')} |")
    return "\n".join(lines) if len(lines) > 2 else "No card ships weights yet."


def _spread(mean: float, std: float | None) -> str:
    return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def accelerator() -> str:
    out = []
    for name, results in _results("accelerator_curve"):
        out += [f"From `benchmarks/results/{name}`: {results['benchmark']['machine']}, "
                f"{results['benchmark']['date']}.", "",
                "| run | epochs | seeds | test accuracy | flip-averaged |", "|---|---|---|---|---|"]
        for run, s in results["summary"].items():
            out.append(f"| {run} | {s['epochs']} | {', '.join(map(str, s['seeds']))} | "
                       f"{_spread(s['mean'], s['std'])} | {_spread(s['flip_mean'], s['flip_std'])} |")
        out.append("")
    return "\n".join(out) or "No accelerator curve recorded yet."


def sdae() -> str:
    out = []
    for name, r in _results("sdae_vs_scratch"):
        out.append(f"From `benchmarks/results/{name}` ({r['benchmark']['date']}): pretrained "
                   f"**{r['pretrained']['test_accuracy']:.4f}** test accuracy in "
                   f"{r['pretrained']['epochs_run']} fine-tuning epochs, from scratch "
                   f"**{r['scratch']['test_accuracy']:.4f}** in {r['scratch']['epochs_run']}; "
                   f"one seed each.")
        gap = r["pretrained"]["test_accuracy"] - r["scratch"]["test_accuracy"]
        out.append(f"\nA gap of {gap:+.4f} between two single runs is a recipe comparison, not "
                   "evidence for the course's claim that greedy pretraining helps: one seed per "
                   f"arm gives no interval, and {_sdae_regime()} trains well from scratch, which "
                   "is not the regime the claim is about. The claim is tested by "
                   f"`kdl experiment pretraining`: {_pretraining_verdict()}")
    return "\n".join(out) or "Not yet recorded."


def _sdae_regime() -> str:
    from kdl.recipes import get_recipe

    r = get_recipe("sdae_fashion_mnist")
    units = r.model_args.get("hidden_units", ())
    return (f"its network ({len(units)} {r.model_args.get('activation', '')} layers, fine-tuned "
            f"by {r.optimizer} on every training label)")


def _pretraining_verdict() -> str:
    path = os.path.join(DOCS, "experiments", "pretraining.json")
    if not os.path.exists(path):
        return "not yet recorded in its redesigned form (docs: experiments)."
    r = _load(path)
    return (f"{'supported' if r['supported'] else 'NOT supported'} on {r['machine']} "
            f"({r['verdict']}).")


FUZZ_SECTIONS = {"overrides": "`kdl train --set` overrides of every recipe field",
                 "data": "data files truncated or overwritten at random offsets",
                 "options": "every option of tune, experiment, evaluate, export, list, cards"}


def fuzz() -> str:
    path = os.path.join(DOCS, "fuzz.json")
    if not os.path.exists(path):
        return "No `make fuzz` run recorded yet."
    sections = _load(path).get("sections", {})
    lines = ["| what | cases | started | refused in one line (exit 2) | tracebacks | run |",
             "|---|---|---|---|---|---|"]
    for kind, r in sections.items():
        lines.append(f"| {FUZZ_SECTIONS.get(kind, kind)} | {r['examples']} | {r['started']} | "
                     f"{r['refused']} | {r['tracebacks']} | `{r['command']}`, {r['machine']}, "
                     f"{r['date']} |")
    return "\n".join(lines) + "\n\nNothing was written in any case that was refused."


def results() -> str:
    lines = ["| file | script | machine | date | command |", "|---|---|---|---|---|"]
    for path in sorted(glob.glob(os.path.join(RESULTS, "*.json"))):
        b = _load(path).get("benchmark", {})
        lines.append(f"| `{os.path.basename(path)}` | {b.get('script', '-')} | "
                     f"{b.get('machine', '-')} | {b.get('date', '-')} | `{b.get('command', '-')}` |")
    return "\n".join(lines)


PAGES = {
    "README.md": {"recipes": readme_recipes, "finetune-readme": readme_finetune},
    "docs/recipes.md": {"stories": stories, "cards": cards, "accelerator": accelerator,
                        "sdae": sdae},
    "docs/experiments.md": {"experiments": experiments},
    "docs/running.md": {"fuzz": fuzz, "lr-find": lr_find},
    "docs/export.md": {"serving": serving},
    "docs/recipe-fields.md": {"recipe-fields": recipe_fields},
    "docs/models.md": {"models": models},
    "docs/performance.md": {"bench": bench, "backends": backends, "results": results,
                            "pytorch-peer": pytorch_peer, "op-repro": op_repro},
    "docs/backends.md": {"backends": backends, "feed": feed},
    "docs/data.md": {"folder-memory": folder_memory},
    "docs/fine-tuning.md": {"weights": weights, "finetune": finetune},
}


def render(text: str, blocks: dict, cache: dict, skip=()) -> str:
    def fill(m):
        name = m.group("name")
        if name in skip:
            return m.group(0)
        if name not in blocks:
            raise SystemExit(f"tools/docs.py: no generator for block {name!r}")
        if name not in cache:
            cache[name] = blocks[name]().rstrip()
        return f"{m.group(1)}{cache[name]}\n{m.group(4)}"
    return BLOCK.sub(fill, text)


def home(readme: str) -> str:
    """docs/index.md: the README, its links made relative to docs/."""
    return readme.replace("](docs/", "](")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--skip", action="append", default=[], metavar="BLOCK",
                        help="leave this block as it is (the tests skip models: it builds them all)")
    args = parser.parse_args(argv)
    from kdl.platform import import_tensorflow

    import_tensorflow(quiet=True)
    stale, cache = [], {}
    outputs = {}
    for page, blocks in PAGES.items():
        path = os.path.join(ROOT, page)
        with open(path) as f:
            text = f.read()
        outputs[path] = (text, render(text, blocks, cache, args.skip))
    readme = outputs[os.path.join(ROOT, "README.md")][1]
    index = os.path.join(DOCS, "index.md")
    old_index = open(index).read() if os.path.exists(index) else ""
    outputs[index] = (old_index, home(readme))
    for path, (old, new) in outputs.items():
        if old != new:
            stale.append(os.path.relpath(path, ROOT))
            if not args.check:
                with open(path, "w") as f:
                    f.write(new)
    verb = "out of date" if args.check else "rewritten"
    print(f"tools/docs.py: {len(stale)} page(s) {verb}{': ' + ', '.join(stale) if stale else ''}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
