# The README's two commands: `make demo` and `make test`. Each does its own set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kdl-installed
FMNIST_DIR := /usr/share/datasets/fashion-mnist
export KERAS_BACKEND := tensorflow
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: demo test test-slow fuzz bench setup data lint docs clean

setup: $(STAMP) data

# PyTorch's CPU wheel for the torch pass of `make test` (PyPI's default wheel pulls CUDA):
# the pinned local wheel where the machine has one, else PyTorch's CPU index, else none.
TORCH_CPU ?= torch==2.13.0+cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip install -q "$(TORCH_CPU)" 2>/dev/null || \
	  timeout 600 $(BIN)/python -m pip install -q torch --index-url $(TORCH_INDEX) || \
	  echo "kdl: no CPU PyTorch wheel reachable; make test will skip its PyTorch pass"
	touch $(STAMP)

# Debian's dataset-fashion-mnist: the real Fashion-MNIST, offline. Installed when
# apt is usable and the files are missing; otherwise kdl falls back to TFDS.
data:
	@if [ ! -e $(FMNIST_DIR)/train-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null \
	    && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -q && apt-get install -y -q dataset-fashion-mnist || \
	    echo "kdl: could not install dataset-fashion-mnist; tests that need it will be skipped"; \
	fi

demo: setup
	$(BIN)/kdl train lenet5_fashion_mnist

# Two tiers. `make test` (the README's command; budget 20 minutes on 2 cores): every test not
# marked `slow` on TensorFlow (every unit, every recipe's and experiment's smoke form, every
# notebook), then models, layers, callbacks and augmentation on JAX, then on PyTorch.
# `make test-slow`: the tests marked `slow` (kill -9 and resume, multi-process and
# multi-worker runs, other backends' end-to-end runs and exports, the deep nets' smoke runs,
# the deeper variants of each builder, benchmarks, the wheel install). CI (.ci/run) runs both.
# Each pass runs its tests in TEST_WORKERS processes (pytest-xdist): many tests wait on
# subprocesses or run one core's Python.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS)
BACKEND_TESTS := tests/test_layers.py tests/test_callbacks.py tests/test_augment.py tests/test_feed.py \
  tests/test_models.py::test_build_train_save_reload
test: setup
	$(PYTEST) --durations=15 -m "not slow" tests
	KERAS_BACKEND=jax $(PYTEST) -p no:cacheprovider -m "not slow" $(BACKEND_TESTS)
	@if $(BIN)/python -c "import torch" 2>/dev/null; then \
	  KERAS_BACKEND=torch $(PYTEST) -p no:cacheprovider -m "not slow" $(BACKEND_TESTS); \
	else echo "kdl: PyTorch not installed: the PyTorch pass is skipped"; fi

test-slow: setup
	$(PYTEST) --durations=15 -p no:cacheprovider -m slow tests

# The fuzz of tests/test_fuzz.py with thousands of cases (make test runs a bounded few):
# overrides, data files corrupted at random offsets, every command's options; then the
# kill tests of tests/test_faults.py at FUZZ_KILLS more instants each.
FUZZ_EXAMPLES ?= 3000
FUZZ_KILLS ?= 6
fuzz: setup
	rm -f docs/fuzz.json
	KDL_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) KDL_FUZZ_OUT=$(CURDIR)/docs/fuzz.json \
	  KDL_FUZZ_COMMAND="make fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES)" \
	  $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py -k fuzzed -s
	KDL_FUZZ_KILLS=$(FUZZ_KILLS) $(PYTEST) -p no:cacheprovider tests/test_faults.py -k sigkill

bench: setup
	$(BIN)/python -m benchmarks.run_all
	$(BIN)/python -m benchmarks.backends --quick
	$(BIN)/python -m benchmarks.pytorch_peer
	$(BIN)/python -m benchmarks.op_repro

# Style, and kdl's floors: the import-linter layers contract in pyproject.toml.
lint: setup
	$(BIN)/ruff check kdl recipes tests benchmarks tools
	$(BIN)/lint-imports --no-cache

# The generated blocks of the README and docs/ (from cards, experiment and benchmark JSON and
# the registries), then the site, strict: a broken link or a missing page fails.
DOCS_STAMP := $(VENV)/.kdl-docs-installed
$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e '.[docs]'
	touch $(DOCS_STAMP)

docs: setup $(DOCS_STAMP)
	PYTHONPATH=. $(BIN)/python tools/docs.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) build *.egg-info site
