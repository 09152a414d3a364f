"""Asset tests: real Dagster runs (materialize) against a temporary DuckDB warehouse."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
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


def run(asset, resources, keys: list[str], instance=None) -> dg.ExecuteInProcessResult:
    """One run over the partition range ``keys[0]..keys[-1]`` (as a backfill launches its
    runs); a failed run is returned, not raised."""
    tags = {
        "dagster/asset_partition_range_start": keys[0],
        "dagster/asset_partition_range_end": keys[-1],
    }
    return dg.materialize(
        [asset], resources=resources, tags=tags, instance=instance, raise_on_error=False
    )


def table(path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).df()
