"""Asset tests: real Dagster runs (materialize) against a temporary DuckDB warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster_duckdb import DuckDBResource

from trading_core.config import MarketConfig, load_config
from trading_pipelines.resources.market import MarketDataResource


@pytest.fixture
def warehouse(trading_home: Path) -> DuckDBResource:
    return DuckDBResource(database=str(trading_home / "warehouse.duckdb"))


def market_resource(**overrides) -> MarketDataResource:
    cfg = load_config(environ={}).market.model_copy(update=overrides)
    return MarketDataResource.from_config(MarketConfig.model_validate(cfg.model_dump()))
