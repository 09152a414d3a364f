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

.PHONY: help venv prepare run test test-fast lint typecheck format bench clean

help:
	@echo "make run    - build the environment, materialize the pipeline on embedded defaults,"
	@echo "              then serve the Dagster UI with the daemon and the paper executor"
	@echo "make test   - build the environment and run the test suite"

$(BIN)/.installed: pyproject.toml uv.lock
	@if [ -z "$(UV)" ]; then \
	  echo "installing uv (the lock-file installer) with pip"; \
	  $(PYTHON) -m pip install --quiet --disable-pip-version-check uv; \
	fi
	@UV_BIN="$$(command -v uv || echo '$(PYTHON) -m uv')"; \
	  $$UV_BIN sync --frozen --extra dev --python $(PYTHON)
	@touch $@

venv: $(BIN)/.installed

# The dbt manifest that Dagster loads, and the Dagster home under TRADING_HOME.
prepare: venv
	@$(BIN)/python -m trading_pipelines.launcher prepare

run: venv
	@$(BIN)/python -m trading_pipelines.launcher run

test: prepare
	@$(BIN)/pytest

test-fast: prepare
	@$(BIN)/pytest -m "not slow and not browser"

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
