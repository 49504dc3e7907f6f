"""Bad input is one line: the recipe checked whole before anything is written, the CLI's one
error boundary, and a property-based fuzz of `kdl train`'s overrides (Hypothesis).

In-process: `kdl.cli.main` with the training loop replaced by a sentinel that stops a run as
it starts, so each case ends in a run that starts or in one line with exit status 2, and in
both the workdir and export directory are never created. `make fuzz` runs thousands of cases
(KDL_FUZZ_EXAMPLES); `make test` a bounded few."""

import dataclasses
import json
import os
import re

import pytest

from kdl import cli
from tests.conftest import fashion_mnist_available

pytestmark = pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST missing")


class _Started(BaseException):
    """Raised where training would begin: the run got past every check."""


@pytest.fixture
def no_training(monkeypatch):
    from kdl.engine import seeds

    def started(*args, **kwargs):
        raise _Started

    monkeypatch.setattr(seeds, "train_seeds", started)


def _train(tmp_path, *extra, recipe="lenet5_fashion_mnist"):
    return cli.main(["train", recipe, "--smoke", "--no-report", "--workdir",
                     str(tmp_path / "w"), "--export-dir", str(tmp_path / "e"), *extra])


@pytest.mark.parametrize("assignment, says", [
    ("model_args.nonsense=1", "Unknown argument 'nonsense' of model lenet5"),
    ("model_args.classes=3", "model_args.classes is set by the recipe"),
    ("model_args.batch_nrm=True", "Did you mean: batch_norm"),
    ("augmentation.nonsense=1", "Unknown augmentation 'nonsense'"),
    ("augmentation.crop=-3", "augmentation.crop: `padding` must be a non-negative integer"),
    ("augmentation.flip=diagonal", "`flip` must be True or one of horizontal"),
    ("augmentation.resized_crop=''", "`scale` must be a pair of numbers"),
    ("model_args.dropout=1.5", "model_args: `dropout` must be in [0, 1)"),
    ("learning_rate=1e309", "`learning_rate` must be a finite number > 0"),
    ("pretrain.kind=[]", "Unknown pretraining"),
])
def test_a_typo_one_level_deeper_is_one_line_and_nothing_is_written(
        assignment, says, tmp_path, capsys, no_training):
    assert _train(tmp_path, "--set", assignment) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert "Received:" in err and err.count("Received:") == 1
    assert os.listdir(tmp_path) == []


def test_truncated_data_and_an_uncreatable_workdir_are_one_line(tmp_path, capsys, monkeypatch,
                                                                no_training):
    import shutil

    from kdl.data import sources
    from tests.conftest import FMNIST_DIR

    data = tmp_path / "data"
    shutil.copytree(FMNIST_DIR, data)
    images = data / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:50_000])
    monkeypatch.setenv("KDL_DATA_DIR", str(data))
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", str(data))
    out = tmp_path / "out"
    out.mkdir()
    assert _train(out) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "train-images-idx3-ubyte.gz" in err, err
    assert os.listdir(out) == []
    monkeypatch.undo()
    (out / "afile").write_text("")
    assert cli.main(["train", "lenet5_fashion_mnist", "--smoke", "--workdir",
                     str(out / "afile" / "w"), "--export-dir", str(out / "e")]) == 2
    err = capsys.readouterr().err
    assert "--workdir" in err and "is not a directory" in err and len(err.strip().splitlines()) == 1
    assert os.listdir(out) == ["afile"]


def test_a_smoke_run_never_replaces_a_card(tmp_path, capsys, monkeypatch, no_training):

    monkeypatch.setenv("KDL_CARDS_DIR", str(tmp_path / "cards"))
    (tmp_path / "cards").mkdir()
    card = {"recipe": "mlp_fashion_mnist", "test_metrics": {"accuracy": 0.8991}}
    (tmp_path / "cards" / "mlp_fashion_mnist.json").write_text(json.dumps(card))
    assert _train(tmp_path / "run", "--record", recipe="mlp_fashion_mnist") == 2
    assert "--record keeps full runs only" in capsys.readouterr().err
    assert json.loads((tmp_path / "cards" / "mlp_fashion_mnist.json").read_text()) == card


def test_replacing_a_card_keeps_the_one_it_replaces(tmp_path, monkeypatch):
    from kdl import cards
    from kdl.recipes import get_recipe

    monkeypatch.setenv("KDL_CARDS_DIR", str(tmp_path))
    recipe = get_recipe("mlp_fashion_mnist")

    def summary(accuracy):
        return {"recipe": recipe.name, "epochs_run": 3, "test_metrics": {"accuracy": accuracy},
                "wall_s": 1.0, "params": 1, "target_metric": "accuracy", "target": 0.88}

    cards.save_card(recipe, summary(0.90), command="kdl train mlp_fashion_mnist --record")
    cards.save_card(recipe, summary(0.61), command="kdl train mlp_fashion_mnist --record --epochs 1")
    card = cards.load_card(recipe.name)
    assert card["test_metrics"]["accuracy"] == 0.61
    assert [h["test_metrics"]["accuracy"] for h in card["history"]] == [0.90]


def test_a_bug_is_one_line_naming_the_trace_file_and_verbose_shows_it(tmp_path, capsys,
                                                                      monkeypatch):
    from kdl.cli import listing

    def broken(args):
        raise TypeError("an internal mistake")

    monkeypatch.setattr(listing, "run_list", broken)
    assert cli.main(["list"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error" in err and "TypeError" in err
    trace = err.rsplit("the full trace is in ", 1)[1].split(" ")[0]
    assert "an internal mistake" in open(trace).read()
    os.remove(trace)
    with pytest.raises(TypeError):
        cli.main(["--verbose", "list"])


# --- the fuzz -----------------------------------------------------------------------------

def _keys():
    from kdl.data.augment import AUGMENTATIONS
    from kdl.recipes import Recipe, SDAEPretraining

    keys = [f.name for f in dataclasses.fields(Recipe)]
    keys += [f"model_args.{k}" for k in ("batch_norm", "dropout", "activation", "classes",
                                         "nonsense", "batch_norm_position", "subsampling")]
    keys += [f"augmentation.{k}" for k in AUGMENTATIONS] + ["augmentation.flipp"]
    keys += [f"pretrain.{f.name}" for f in dataclasses.fields(SDAEPretraining)]
    keys += ["pretrain.kind", "learning_rat", "epoch", "name", "", "model_args"]
    return keys


VALUES = ["-1", "0", "1", "2", "-3.5", "1e309", "nan", "-inf", "None", "True", "false", "[]",
          "{}", "()", "(1, 2)", "[28, 28]", "{'a': 1}", "''", "x", "ünïcødé", "horizontal",
          "sgd", "cosine", "classification", "char_rnn", "mixed_bfloat16", "1" * 40, "(0,)",
          "{'alpha': -1}", "0.5", "1.5", "stop", "auto", "'fashion_mnist'"]


def test_fuzzed_overrides_start_a_run_or_say_one_line(tmp_path, capsys, no_training):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    examples = int(os.environ.get("KDL_FUZZ_EXAMPLES", "40"))
    outcomes = {"started": 0, "refused": 0}

    @settings(max_examples=examples, deadline=None, derandomize=examples <= 40,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(_keys()),
                              st.one_of(st.sampled_from(VALUES), st.text(max_size=8))),
                    min_size=1, max_size=3),
           st.sampled_from(["lenet5_fashion_mnist", "mlp_fashion_mnist", "sdae_fashion_mnist",
                            "autoencoder_fashion_mnist"]))
    def case(assignments, recipe):
        out = tmp_path / "case"
        out.mkdir(exist_ok=True)
        sets = [a for k, v in assignments for a in ("--set", f"{k}={v}")]
        try:
            status = _train(out, *sets, recipe=recipe)
        except _Started:
            outcomes["started"] += 1
        else:
            err = capsys.readouterr().err.strip()
            assert status == 2, (sets, err)
            assert len(err.splitlines()) == 1 and err.startswith("kdl: error: "), (sets, err)
            outcomes["refused"] += 1
        assert os.listdir(out) == [], sets  # nothing written either way

    case()
    assert outcomes["refused"] > 0
    print(f"kdl fuzz: {examples} cases, {outcomes['started']} runs started, "
          f"{outcomes['refused']} refused in one line, 0 tracebacks")
    record_fuzz("overrides", examples, outcomes)


def test_the_other_commands_refuse_bad_paths_and_options_in_one_line(tmp_path, capsys):
    """predict, evaluate, export, report, tune and experiment on inputs a user gets wrong:
    one line and exit 2 each, and nothing created."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    (tmp_path / "model" / "3").mkdir(parents=True)  # a version folder without saved_model.pb
    paths = [str(tmp_path / p) for p in ("missing", "notes.txt", "empty", "model", "model/3")]
    commands = st.one_of(
        st.tuples(st.just("predict"), st.sampled_from(paths), st.sampled_from(paths)),
        st.tuples(st.sampled_from(["evaluate", "export"]),
                  st.sampled_from(["lenet5_fashion_mnist", "lenet5", "nosuch"]),
                  st.just("--workdir"), st.sampled_from(paths)),
        st.tuples(st.just("report"), st.sampled_from(paths)),
        st.tuples(st.just("tune"), st.just("mlp_fashion_mnist"), st.just("--tuner"),
                  st.sampled_from(["randm", "", "grid search", "ünï"])),
        st.tuples(st.just("experiment"), st.sampled_from(["optimisers", "", "nosuch"])),
    )

    @settings(max_examples=int(os.environ.get("KDL_FUZZ_EXAMPLES", "25")), deadline=None,
              derandomize=True, suppress_health_check=list(HealthCheck))
    @given(commands)
    def case(argv):
        before = sorted(p.name for p in tmp_path.rglob("*"))
        status = cli.main(list(argv))
        err = capsys.readouterr().err.strip()
        assert status == 2, (argv, err)
        assert len(err.splitlines()) == 1 and err.startswith("kdl: error: "), (argv, err)
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, argv

    case()


def record_fuzz(kind: str, examples: int, outcomes: dict) -> None:
    """``make fuzz`` (KDL_FUZZ_OUT): this test's counts, one section of the JSON the docs render."""
    if not os.environ.get("KDL_FUZZ_OUT"):
        return
    import time

    from kdl._files import write_json
    from kdl.platform import hardware, machine_line

    path = os.environ["KDL_FUZZ_OUT"]
    record = json.load(open(path)) if os.path.exists(path) else {}
    record = record if "sections" in record else {"sections": {}}
    record["sections"][kind] = {"examples": examples, **outcomes, "tracebacks": 0,
                                "machine": machine_line(hardware()),
                                "date": time.strftime("%Y-%m-%d", time.gmtime()),
                                "command": os.environ.get("KDL_FUZZ_COMMAND", "make fuzz")}
    write_json(path, record)


def _small_idx_dir(directory, gz: bool):
    """MNIST-layout files of 600 train and 200 test Fashion-MNIST images (a fuzz case reads
    them in milliseconds)."""
    import gzip
    import struct

    from kdl.data.idx import load_idx_directory
    from tests.conftest import FMNIST_DIR

    (xt, yt), (xs, ys) = load_idx_directory(FMNIST_DIR)
    directory.mkdir()
    for stem, array, code in (("train-images-idx3-ubyte", xt[:600, ..., 0], 3),
                              ("train-labels-idx1-ubyte", yt[:600], 1),
                              ("t10k-images-idx3-ubyte", xs[:200, ..., 0], 3),
                              ("t10k-labels-idx1-ubyte", ys[:200], 1)):
        raw = struct.pack(">HBB", 0, 0x08, code) + struct.pack(f">{code}I", *array.shape) + \
            array.astype("uint8").tobytes()
        path = directory / (stem + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    return directory


def test_fuzzed_data_files_start_a_run_or_say_one_line(tmp_path, capsys, monkeypatch,
                                                        no_training):
    """Each of the four files truncated, or bytes overwritten, at random offsets (raw and
    gzipped): the run starts on data that is still well-formed, or it is one line."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from kdl.data import sources

    clean = {gz: _small_idx_dir(tmp_path / f"clean{int(gz)}", gz) for gz in (False, True)}
    examples = int(os.environ.get("KDL_FUZZ_EXAMPLES", "30"))
    outcomes = {"started": 0, "refused": 0}

    @settings(max_examples=examples, deadline=None, derandomize=examples <= 40,
              suppress_health_check=list(HealthCheck))
    @given(st.booleans(), st.sampled_from(["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
           st.sampled_from(["truncate", "overwrite"]), st.floats(0, 1), st.binary(min_size=1,
                                                                                max_size=16))
    def case(gz, stem, how, where, junk):
        import shutil

        data = tmp_path / "data"
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(clean[gz], data)
        path = data / (stem + (".gz" if gz else ""))
        raw = path.read_bytes()
        at = min(int(where * len(raw)), len(raw) - 1)
        path.write_bytes(raw[:at] if how == "truncate" else raw[:at] + junk + raw[at + len(junk):])
        monkeypatch.setenv("KDL_DATA_DIR", str(data))
        monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", str(data))
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        try:
            status = _train(out)
        except _Started:
            outcomes["started"] += 1
        else:
            err = capsys.readouterr().err.strip()
            assert status == 2, (stem, how, at, err)
            assert len(err.splitlines()) == 1 and err.startswith("kdl: error: "), err
            outcomes["refused"] += 1
        assert os.listdir(out) == []

    case()
    assert outcomes["refused"] > 0
    print(f"kdl data fuzz: {examples} cases, {outcomes['started']} started, "
          f"{outcomes['refused']} refused in one line, 0 tracebacks")
    record_fuzz("data", examples, outcomes)


def test_fuzzed_options_of_every_command_start_or_say_one_line(tmp_path, capsys, monkeypatch,
                                                               no_training):
    """Every option of tune, experiment, evaluate, export, list and cards, read from the
    parser itself, given values of the wrong type, out of range, empty, huge or unicode:
    the command reaches its work (stopped there) or says one line; nothing is written."""
    import argparse

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from kdl import experiments, tuning
    from kdl.engine import loop

    def started(*args, **kwargs):
        raise _Started

    for module, name in ((tuning, "search"), (experiments, "run_experiment"),
                         (loop, "prepare_data")):
        monkeypatch.setattr(module, name, started)
    positionals = {"tune": ["mlp_fashion_mnist"], "experiment": ["optimizers"],
                   "evaluate": ["lenet5_fashion_mnist"], "export": ["lenet5_fashion_mnist"],
                   "list": [], "cards": []}
    sub = next(a for a in cli.build_parser()._actions
               if isinstance(a, argparse._SubParsersAction))
    options = {cmd: [a for a in sub.choices[cmd]._actions if a.option_strings
                     and a.dest not in ("help", "chief", "worker", "oracle_address",
                                        "oracle_port", "connect_timeout")]
               for cmd in positionals}
    workdir = tmp_path / "work"
    cases = st.sampled_from(sorted(positionals)).flatmap(lambda cmd: st.tuples(
        st.just(cmd), st.lists(st.tuples(st.sampled_from(options[cmd]) if options[cmd]
                                         else st.nothing(),
                                         st.one_of(st.sampled_from(VALUES),
                                                   st.text(max_size=6))),
                               max_size=3 if options[cmd] else 0)))
    examples = int(os.environ.get("KDL_FUZZ_EXAMPLES", "30"))
    outcomes = {"started": 0, "refused": 0}

    @settings(max_examples=examples, deadline=None, derandomize=examples <= 40,
              suppress_health_check=list(HealthCheck))
    @given(cases)
    def case(command):
        cmd, chosen = command
        argv = [cmd, *positionals[cmd]]
        for action, value in chosen:
            if action.dest in ("workdir", "export_dir", "out"):
                value = str(workdir / "x")  # paths: the other fuzz's; here, nothing written
            argv += [action.option_strings[-1]] + ([] if action.nargs == 0 else [value])
        if cmd in ("evaluate", "export"):
            argv += ["--workdir", str(workdir / "none")]
        monkeypatch.chdir(tmp_path)
        try:
            status = cli.main(argv)
        except _Started:
            outcomes["started"] += 1
            return
        except SystemExit as e:  # argparse's own refusals: Parser.error, one line
            status = e.code
        if True:
            err = capsys.readouterr().err.strip()
            if status == 0:  # list and cards on any pattern
                outcomes["started"] += 1
            else:
                assert status == 2, (argv, err)
                assert len(err.splitlines()) == 1, (argv, err)
                assert re.match(r"kdl( [a-z]+)?: error: ", err), (argv, err)
                outcomes["refused"] += 1
        assert sorted(p.name for p in tmp_path.iterdir()) == [], argv

    case()
    assert outcomes["refused"] > 0
    record_fuzz("options", examples, outcomes)
