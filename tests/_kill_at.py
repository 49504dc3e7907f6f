"""Run the kdl CLI and SIGKILL it at a chosen instant: ``python tests/_kill_at.py ARGS``.

``KDL_KILL_AT=PATTERN:N`` kills the process at the N-th file published (``os.replace``)
whose destination contains PATTERN, after the new content is complete and before it is
in place: the worst moment for a writer that is not atomic. ``KDL_EXPERIMENT_SMOKE=NAME``
gives experiment NAME its smoke settings as its full ones, so ``--record`` can be killed in
seconds. ``KDL_REFUSE_IMPORT=tensorflow,tensorflow_datasets`` makes those packages (and their
submodules) fail to import, as on a machine that lacks them. (``KDL_CARDS_DIR``, kdl's own,
points the cards at a test's folder.)
"""

import os
import signal
import sys

if os.environ.get("KDL_REFUSE_IMPORT"):
    import importlib.machinery

    refused = set(os.environ["KDL_REFUSE_IMPORT"].split(","))

    class _Without:
        """The path finder, blind to the refused packages: `import` raises
        ModuleNotFoundError, importlib.util.find_spec answers None and sys.modules never
        holds them, as where they are not installed."""

        def __init__(self, finder):
            self.finder = finder

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in refused:
                return None
            return self.finder.find_spec(name, path, target)

        def __getattr__(self, name):
            return getattr(self.finder, name)

    sys.meta_path[:] = [_Without(f) if f is importlib.machinery.PathFinder else f
                        for f in sys.meta_path]

if os.environ.get("KDL_KILL_AT"):
    pattern, _, nth = os.environ["KDL_KILL_AT"].rpartition(":")
    real_replace, seen = os.replace, [0]

    def replace(src, dst, *args, **kwargs):
        if pattern in os.fspath(dst):
            seen[0] += 1
            if seen[0] == int(nth):
                os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst, *args, **kwargs)

    os.replace = replace

if os.environ.get("KDL_EXPERIMENT_SMOKE"):
    import dataclasses

    from kdl import experiments

    name = os.environ["KDL_EXPERIMENT_SMOKE"]
    experiment = experiments.get_experiment(name)
    experiments._EXPERIMENTS[name] = dataclasses.replace(experiment, settings=experiment.smoke)

from kdl.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
