"""kdl._files: a file is the old one or the new one, whatever happens mid-write."""

import json
import os
import subprocess
import sys

import pytest

from kdl import _files


def test_write_json_replaces_whole(tmp_path):
    path = tmp_path / "a" / "card.json"
    _files.write_json(str(path), {"x": 1})
    _files.write_json(str(path), {"x": 2})
    assert json.loads(path.read_text()) == {"x": 2}
    assert os.listdir(path.parent) == ["card.json"]


def test_an_error_mid_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    with pytest.raises(ZeroDivisionError), _files.atomic_open(str(path)) as f:
        f.write("half")
        raise ZeroDivisionError
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.json"]


def test_atomic_path_keeps_the_extension(tmp_path):
    with _files.atomic_path(str(tmp_path / "model.keras")) as tmp:
        assert tmp.endswith(".keras") and os.path.dirname(tmp) == str(tmp_path)
        open(tmp, "w").write("m")
    assert (tmp_path / "model.keras").read_text() == "m"


def test_a_killed_writer_leaves_the_old_file_and_its_temporary_is_cleaned(tmp_path):
    path = tmp_path / "card.json"
    path.write_text('{"old": true}')
    code = ("import os, signal, sys; from kdl import _files\n"
            "with _files.atomic_open(sys.argv[1]) as f:\n"
            "    f.write('{\"new\": ')\n    f.flush()\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True)
    assert out.returncode == -9
    assert json.loads(path.read_text()) == {"old": True}
    left = [n for n in os.listdir(tmp_path) if n != "card.json"]
    assert len(left) == 1 and left[0].startswith(".kdl-tmp-")  # hidden: no reader lists it
    _files.write_json(str(path), {"new": True})
    assert sorted(os.listdir(tmp_path)) == ["card.json"]  # the dead writer's file removed
