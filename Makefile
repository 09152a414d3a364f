# Two commands for a new user: `make run` and `make test`. Both build the environment from
# the lock file first and need no network beyond the package registries, and no API keys.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null)
TYPECHECKED := executor trading_core

export TRADING_HOME ?= $(CURDIR)/.trading
export DAGSTER_HOME ?= $(TRADING_HOME)/dagster
export DAGSTER_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := False

.PHONY: help venv prepare run test test-fast browser-deps docs lint typecheck format bench clean

help:
	@echo "make run    - build the environment, materialize the pipeline on embedded defaults,"
	@echo "              then serve the Dagster UI with the daemon and the paper executor"
	@echo "make test   - build the environment and run the test suite"
	@echo "make docs   - generate and serve the dbt docs (http://127.0.0.1:8081) on a copy"
	@echo "              of the warehouse"

$(BIN)/.installed: pyproject.toml uv.lock
	@if [ -z "$(UV)" ]; then \
	  echo "installing uv (the lock-file installer) with pip"; \
	  $(PYTHON) -m pip install --quiet --disable-pip-version-check uv; \
	fi
	@UV_BIN="$$(command -v uv || echo '$(PYTHON) -m uv')"; \
	  $$UV_BIN sync --frozen --extra dev --python $(PYTHON)
	@touch $@

venv: $(BIN)/.installed

# Bytecode of every installed package, once per install: with PYTHONDONTWRITEBYTECODE set
# (or a read-only venv) Python would otherwise recompile them on every command (~4 s CPU).
$(BIN)/.bytecode: $(BIN)/.installed
	@$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true
	@touch $@

# The dbt manifest that Dagster loads, the Dagster home under TRADING_HOME, the project's
# bytecode and the ahead-of-time compiled kernels (trading_core/aot.py; rebuilt when stale).
prepare: venv $(BIN)/.bytecode
	@$(BIN)/python -m trading_pipelines.launcher prepare
	@$(BIN)/python -m compileall -q -j 0 trading_core trading_pipelines executor >/dev/null
	@$(BIN)/python -m trading_core.backtest.sweep_aot_build --if-stale

run: venv
	@$(BIN)/python -m trading_pipelines.launcher run

# Debian's Chromium for the browser tests, installed when missing and we may (root, or
# passwordless sudo). When we may not, the browser tests fail saying what to install: they
# are never skipped (tests/conftest.py fails the run if one is).
browser-deps:
	@if command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "chromium is missing: install it with 'sudo apt-get install chromium' (the browser tests fail until then)"; exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "chromium is missing and there is no apt-get: install Chromium (the browser tests fail until then)"; exit 0; fi; \
	echo "installing Debian's chromium for the browser tests"; \
	APT="$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=300"; \
	($$APT update && $$APT install -y chromium >/dev/null) \
	  || echo "chromium could not be installed: the browser tests will fail saying what to install"

# Two pytest-xdist workers (the machines have 2 cores); a test file stays on one worker, so
# module-level caches and fixtures are built once. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

test: prepare browser-deps
	@$(BIN)/pytest $(PYTEST_PARALLEL)

test-fast: prepare
	@$(BIN)/pytest $(PYTEST_PARALLEL) -m "not slow and not browser"

# dbt docs for analysts, generated on a copy of the warehouse (trading_pipelines/dbt_docs.py)
# and served on http://127.0.0.1:$${TRADING_DOCS_PORT:-8081} until Ctrl-C
docs: prepare
	@$(BIN)/python -m trading_pipelines.dbt_docs serve

# ruff, then mypy (configured in pyproject.toml: strict on executor/, defaults on trading_core/)
lint: venv
	@$(BIN)/ruff check . && $(BIN)/ruff format --check .
	@$(BIN)/mypy $(TYPECHECKED)

typecheck: venv
	@$(BIN)/mypy $(TYPECHECKED)

format: venv
	@$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: prepare
	@$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs .pytest_cache .ruff_cache .mypy_cache
