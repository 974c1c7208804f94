# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# `make run` installs only what the service needs; `make test` adds the dev extras
# (linters, the peers' libraries the tests check against, the browser driver).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
MLFLOW_VENV := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed
# Three workers on the two cores: the tests (each in a database of its own) wait on
# served processes, PostgreSQL and the clock as much as they compute. One checkout,
# before the suite was cut to ≈3.5 min on a fresh clone: 2 workers 4 min 07 s,
# 3 workers 3 min 26 s, 4 workers 3 min 46 s.
PYTEST_WORKERS ?= 3

.PHONY: run test lint docs contract bench bench-smoke bench-mlflow clean

# uv installs from PyPI into the venv pip made: on this machine a fresh dev install
# took 67 s with pip and 36 s with uv, which also compiles the bytecode on every core.
INSTALL := $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv>=0.4'

$(RUN_STAMP): pyproject.toml | $(BIN)/uv
	$(INSTALL) -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/uv
	$(INSTALL) -e '.[dev]'
	touch $@ $(RUN_STAMP)

$(BENCH_STAMP): pyproject.toml $(DEV_STAMP)
	$(INSTALL) -e '.[dev,bench]'
	command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null || true
	touch $@

run: $(RUN_STAMP)
	$(BIN)/backtest-ledger demo --if-empty
	$(BIN)/backtest-ledger serve

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# mypy (one core, 15 s on a fresh clone) checks while the pytest workers start and
# wait on servers; its verdict is printed after the suite's, and either failing fails.
test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy > $(VENV)/mypy.out 2>&1 & typed=$$!; \
	$(BIN)/pytest -n $(PYTEST_WORKERS); passed=$$?; \
	wait $$typed; checked=$$?; cat $(VENV)/mypy.out; \
	[ $$passed -eq 0 ] && [ $$checked -eq 0 ]

# The reference pages generated from the code, then the site (build/site); the suite
# fails when a generated page is stale or the strict build does.
docs: $(DEV_STAMP)
	$(BIN)/python -m api.reference
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Schemathesis with every check against a served ledger: the OpenAPI document states
# what the service enforces (schemathesis.toml: the rules it cannot state).
contract: $(DEV_STAMP)
	$(BIN)/python -m tests.schema_contract

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

# Every bench module end to end at a hundredth of its scale: CI runs it, so a change
# that breaks a benchmark fails CI; the MLflow side by side too.
bench-smoke: $(BENCH_STAMP) $(MLFLOW_STAMP)
	BENCH_SCALE=0.01 $(BIN)/python -m bench
	BENCH_SCALE=0.01 $(BIN)/python -m bench.mlflow_side_by_side

# The ledger beside MLflow 3 on the same PostgreSQL (optional, not in `make bench`):
# MLflow in a virtual environment of its own, as its pins are not the ledger's.
bench-mlflow: $(BENCH_STAMP) $(MLFLOW_STAMP)
	$(BIN)/python -m bench.mlflow_side_by_side

$(MLFLOW_STAMP): | $(BIN)/uv
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(BIN)/uv pip install --quiet --python $(MLFLOW_VENV)/bin/python 'mlflow>=3.0' 'psycopg[binary]>=3.1'
	touch $@

clean:
	rm -rf $(VENV) $(MLFLOW_VENV) var build *.egg-info
