"""kdl's house: its floors (the import-linter contract in pyproject.toml), no import
cycle (function-level imports included), a CLI that only talks, benchmarks that are a
package. The CLI-only check this replaces is the contract's top row."""

import ast
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
KDL = ROOT / "kdl"


def _graph():
    import grimp

    return grimp.build_graph("kdl", include_external_packages=False)


def _lint_imports(cwd, **env):
    import os

    return subprocess.run([str(pathlib.Path(sys.executable).parent / "lint-imports"),
                           "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **env})


def test_the_layers_contract_holds():
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "1 kept, 0 broken" in out.stdout


def test_the_contract_names_every_top_level_module():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layered = {name.strip() for contract in config["contracts"] for row in contract["layers"]
               for name in re.split(r"[|:]", row)}
    modules = {f"kdl.{p.stem if p.is_file() else p.name}" for p in KDL.iterdir()
               if (p.suffix == ".py" and p.stem != "__init__")
               or (p.is_dir() and (p / "__init__.py").exists())}
    assert modules - layered == set()


def test_the_contract_fails_on_an_upward_import_inside_a_function(tmp_path):
    package = tmp_path / "house"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "top.py").write_text("from house import bottom\n")
    (package / "bottom.py").write_text("def f():\n    from house import top\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.importlinter]\nroot_package = "house"\n\n[[tool.importlinter.contracts]]\n'
        'name = "floors"\ntype = "layers"\nlayers = ["house.top", "house.bottom"]\n')
    out = _lint_imports(tmp_path, PYTHONPATH=str(tmp_path))
    assert out.returncode != 0 and "house.bottom is not allowed to import house.top" in out.stdout


def test_no_import_cycle_in_kdl():
    graph = _graph()
    modules = sorted(graph.modules)
    cycles = [(a, b) for a in modules for b in graph.find_modules_directly_imported_by(a)
              if a != b and graph.chain_exists(importer=b, imported=a)]
    assert cycles == []


def test_import_kdl_recipes_imports_no_keras():
    code = ("import sys, kdl.recipes; kdl.recipes.list_recipes(); "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_no_module_global_carries_argv():
    offenders = []
    for path in KDL.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) else []
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            offenders += [f"{path.relative_to(ROOT)}:{n}" for n in names if "argv" in n.lower()]
        offenders += [f"{path.relative_to(ROOT)}: global {n}" for node in
                      ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Global)
                      for n in node.names if "argv" in n.lower()]
    assert offenders == []


def test_every_cli_module_is_short():
    long = {p.name: n for p in (KDL / "cli").glob("*.py")
            if (n := len(p.read_text().splitlines())) > 160}
    assert long == {}


def test_benchmarks_are_a_package_without_path_edits():
    assert (ROOT / "benchmarks" / "__init__.py").exists()
    offenders = [f"{p.name}:{n}" for p in (ROOT / "benchmarks").glob("*.py")
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if "sys.path.insert" in line or "sys.path.append" in line]
    assert offenders == []


def test_nothing_in_the_library_writes_the_readme():
    offenders = [str(p.relative_to(ROOT)) for p in KDL.rglob("*.py")
                 if "README.md" in p.read_text()]
    assert offenders == []


def test_the_generated_docs_are_up_to_date():
    """README and docs/ hold what `make docs` renders from the cards, the experiment and
    benchmark JSON and the registries: a card recorded without `make docs` fails here."""
    import os

    out = subprocess.run([sys.executable, str(ROOT / "tools" / "docs.py"), "--check",
                          "--skip", "models"], cwd=ROOT,
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def test_gitignore_ignores_no_source_file():
    """A pattern such as ``experiments/`` once ignored kdl/experiments/: new modules there
    were never committed, and a clean clone failed. Every file under the source folders a
    clone needs is one git would add."""
    import pytest

    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = [str(p.relative_to(ROOT)) for folder in ("kdl", "recipes", "tests", "benchmarks",
                                                      "tools", "docs")
             for p in (ROOT / folder).rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=ROOT,
                             input="\n".join(files), capture_output=True, text=True).stdout.split()
    assert ignored == [], f"ignored by .gitignore: {ignored[:5]}"
