"""The ``kdl`` command: list, train, evaluate, export, predict, tune, experiment, report,
cards. The top floor: it parses, calls the library, prints; nothing in the library
imports it.

Bad input (an unknown recipe, a wrong ``--set``, epochs <= 0, data that cannot be found,
an image of the wrong shape, a workdir in use) is one line on stderr and exit status 2,
before anything is written. TensorFlow's start-up lines are kept off the terminal
(:func:`kdl.platform.import_tensorflow`); ``--verbose`` or ``KDL_VERBOSE=1`` shows them.
One module per command; :func:`build_parser` asks each for its arguments.
"""

from __future__ import annotations

import os
import sys
import warnings

import kdl  # noqa: F401  (sets KERAS_BACKEND before TensorFlow loads)
from kdl.cli import (evaluate, experiment, listing, lr_find, predict, report, serve_check, train,
                     tune)
from kdl.cli.common import Parser, UsageError

_WITHOUT_TENSORFLOW = ("list", "cards", "weights")


def build_parser() -> Parser:
    parser = Parser(prog="kdl", description="Deep-learning recipes for Keras.")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up log lines (also KDL_VERBOSE=1)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    listing.add_parsers(sub)
    train.add_parser(sub)
    evaluate.add_parsers(sub)
    predict.add_parser(sub)
    tune.add_parser(sub)
    experiment.add_parser(sub)
    lr_find.add_parser(sub)
    report.add_parser(sub)
    serve_check.add_parser(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """kdl's own warnings as one line on stderr; others as Python shows them."""
    from kdl.errors import KdlWarning

    if issubclass(category, KdlWarning):
        print(f"kdl: warning: {' '.join(str(message).split())}", file=file or sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_show_warning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.showwarning = _one_line_warning
    args = build_parser().parse_args(argv)
    args.argv = argv  # what a card keeps as the command that reruns it
    if getattr(args, "backend", None):
        if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != args.backend:
            print(f"kdl: error: Keras is already loaded with another backend in this process. "
                  f"Received: --backend {args.backend}", file=sys.stderr)
            return 2
        os.environ["KERAS_BACKEND"] = args.backend  # before Keras is first imported
    verbose = args.verbose or os.environ.get("KDL_VERBOSE", "") not in ("", "0")
    if args.command not in _WITHOUT_TENSORFLOW:
        from kdl.platform import import_tensorflow, tensorflow_available

        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        if backend == "tensorflow" and not tensorflow_available():
            print("kdl: error: TensorFlow is not installed here: train on JAX or PyTorch with "
                  "--backend jax or --backend torch (or KERAS_BACKEND). Received: "
                  "KERAS_BACKEND=tensorflow", file=sys.stderr)
            return 2
        import_tensorflow(quiet=not verbose)  # None where it is not installed
    return _run(args, verbose)


def _run(args, verbose: bool) -> int:
    """The one error boundary: bad input (:class:`UsageError`, any :class:`kdl.errors.KdlError`)
    is one line and exit 2; anything else is a bug: its traceback with ``--verbose``, else
    one line saying so and where the full trace was written, exit 1."""
    from kdl.errors import KdlError

    try:
        return args.func(args)
    except (UsageError, KdlError) as e:
        print(f"kdl: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `kdl predict ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        if verbose:
            raise
        import tempfile
        import traceback

        path = os.path.join(tempfile.gettempdir(), f"kdl-internal-error-{os.getpid()}.txt")
        with open(path, "w") as f:
            traceback.print_exc(file=f)
        print(f"kdl: internal error (a bug in kdl, not in your input): {type(e).__name__}: "
              f"{' '.join(str(e).split())[:300]}; the full trace is in {path} (--verbose "
              f"prints it)", file=sys.stderr)
        return 1


def run_recipe_file(name: str) -> None:
    """What ``python recipes/NAME.py [ARGS]`` does: ``kdl train NAME [ARGS]``."""
    sys.exit(main(["train", name, *sys.argv[1:]]))
