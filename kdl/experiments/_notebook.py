"""An experiment as a Jupyter notebook a class can run: ``kdl experiment NAME --notebook
PATH.ipynb``.

The notebook holds the claim and the module's account of why the experiment is set up as
it is; code cells that call kdl's API at smoke size (the settings as a dict to edit, the
run, the figure, the verdict by the experiment's own verdict function, as ``kdl experiment``
computes it); and "change this" exercises. :func:`write_notebook` runs it once in a fresh
kernel (nbclient) so that it opens with its outputs; ``make test`` executes every
experiment's notebook so that none can rot. nbformat, nbclient and ipykernel come with
``pip install 'kdl[notebooks]'``.
"""

from __future__ import annotations

import inspect
import os
import pprint
import sys

from kdl._files import atomic_path
from kdl.experiments import get_experiment

CELL_TIMEOUT_S = 1800  # a smoke run takes seconds to a minute; full settings far longer

_NEEDS = "needs nbformat, nbclient and ipykernel: pip install 'kdl[notebooks]'"


def _nbformat():
    try:
        import nbformat
    except ImportError:
        raise ValueError(f"A notebook {_NEEDS}. Received: nbformat not installed") from None
    return nbformat


def _account(experiment) -> str:
    """The module docstring: why the experiment is set up as it is."""
    doc = inspect.getdoc(sys.modules[experiment.run.__module__]) or ""
    # Drop the usage lines (`kdl experiment NAME`): the notebook is the usage here.
    kept = [line for line in doc.splitlines() if not line.strip().startswith("kdl experiment")]
    return "\n".join(kept).strip()


def _numeric_setting(settings: dict) -> tuple[str, object] | None:
    for key, value in settings.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return key, value
    return None


def build_notebook(name: str):
    """The notebook of experiment ``name`` (an ``nbformat`` v4 node), not yet executed."""
    nbformat = _nbformat()
    experiment = get_experiment(name)
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [
        md(f"# Experiment: {name}\n\n**Claim.** {experiment.claim}\n\n{_account(experiment)}\n\n"
           f"The same run from a terminal: `kdl experiment {name}` (full settings, "
           f"{experiment.seeds} seeds) or `kdl experiment {name} --smoke`."),
        md("## Settings\n\nThe smoke settings, so that the notebook runs in a minute; "
           "`experiment.settings` holds the full ones. Edit any value and run on."),
        code("import json\n\n"
             "from IPython.display import Image, display\n\n"
             "from kdl.experiments import get_experiment\n"
             "from kdl.platform import import_tensorflow\n\n"
             "import_tensorflow()  # its start-up log lines kept out of the notebook\n"
             f"experiment = get_experiment({name!r})\n"
             f"settings = {pprint.pformat(experiment.smoke, sort_dicts=False, width=88)}\n"
             "seeds = list(range(1))\n"
             f"figure = {f'{name}.png'!r}"),
        md("## Run\n\nThe experiment's own function: it trains or measures over the seeds, "
           "draws its figure and returns the numbers the verdict is computed from."),
        code("numbers = experiment.run(settings, seeds, figure)\n"
             "display(Image(filename=figure))"),
        md("## The numbers"),
        code("for row in numbers.get('table') or []:\n"
             "    print(row)"),
        md("## Verdict\n\nComputed from the numbers by the experiment's verdict function, as "
           "`kdl experiment` computes it: a \"NOT supported\" is what this run measured."),
        code("supported, why = experiment.verdict(numbers, settings)\n"
             "print(f\"{'SUPPORTED' if supported else 'NOT supported'} by this run \"\n"
             "      f\"({len(seeds)} seed(s)): {why}\")"),
    ]
    exercise = _numeric_setting(experiment.smoke)
    changed = (f"- Change one setting, say `settings[{exercise[0]!r}]` (now {exercise[1]!r}): "
               "which numbers move, and does the verdict?\n" if exercise else "")
    cells.append(md(
        "## Change this\n\n"
        "- More seeds: `seeds = list(range(3))`. Does the interval in the verdict narrow, and "
        "does the verdict hold on every seed?\n"
        "- The full settings: `settings = dict(experiment.settings)` (minutes to hours on a "
        "CPU). Is the smoke verdict the full one?\n"
        f"{changed}"
        "- Find a setting under which the claim fails, and say why it fails there: the "
        "module's account above says what its authors tried."))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


def execute_notebook(notebook, cwd: str, *, km=None):
    """Run every cell of ``notebook`` with ``cwd`` as the working directory, in a fresh
    kernel (or the started kernel manager ``km``, left running); returns it with outputs.
    A failing cell raises nbclient's ``CellExecutionError``."""
    try:
        from nbclient import NotebookClient
    except ImportError:
        raise ValueError(f"Running a notebook {_NEEDS}. Received: nbclient not installed") from None
    own = km is None
    if own:  # the kernel's start-up lines (TensorFlow's among them) kept off the terminal
        import subprocess

        from jupyter_client import KernelManager

        km = KernelManager(kernel_name="python3")
        km.start_kernel(stderr=subprocess.DEVNULL, cwd=cwd,
                        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        NotebookClient(notebook, km=km, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                       resources={"metadata": {"path": cwd}}).execute()
    finally:
        if own:
            km.shutdown_kernel(now=True)
    return notebook


def write_notebook(name: str, path: str, *, execute: bool = True) -> str:
    """Write experiment ``name`` as the notebook ``path`` (``.ipynb``), run once (unless
    ``execute=False``) in a fresh kernel beside it; refused in one line for another
    extension or a file already there (it may hold a student's work)."""
    if not str(path).endswith(".ipynb"):
        raise ValueError(f"A notebook's path ends in .ipynb. Received: {path}")
    if os.path.exists(path):
        raise ValueError(f"{path} exists; a notebook is never written over (it may hold "
                         f"edits): choose another path or remove it. Received: {path}")
    nbformat = _nbformat()
    notebook = build_notebook(name)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if execute:
        execute_notebook(notebook, directory)
    with atomic_path(path) as tmp:
        nbformat.write(notebook, tmp)
    return path
