"""The same held bar in a live evaluation and in a backtest: a 10x spike in a real file never
reaches stg_ohlcv (what the live signals read) and is skipped by the CSV backtester."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from assets.dbt_models import dbt_models
from tests.assets.conftest import table
from tests.assets.test_ingest_corruption import FILE, ingest, keys, spiked, write
from trading_core.backtest.data import read_ohlcv_csv
from trading_pipelines.dbt import dbt_resource


def test_a_held_bar_is_out_of_the_live_signals_and_out_of_the_backtest(
    trading_home, warehouse, shared_data
) -> None:
    lines, at = spiked(shared_data, 9)
    write(trading_home / "replay", lines)
    assert ingest(trading_home, warehouse, keys("2023-06-01", 2)).success
    staged = dg.materialize(
        [dbt_models], selection=["stg_ohlcv"], resources={"dbt": dbt_resource(trading_home)}
    )
    assert staged.success
    live = table(trading_home / "warehouse.duckdb", "select ts from staging.stg_ohlcv order by ts")
    backtest = read_ohlcv_csv(trading_home / "replay" / FILE)
    assert at not in set(live["ts"]) and at not in set(backtest["ts"])
    assert list(live["ts"]) == list(backtest["ts"])  # 47 bars, the same ones
    assert len(backtest) == 47
    # the untouched file keeps every bar in both
    clean = read_ohlcv_csv(shared_data / "market" / FILE)
    assert pd.Timestamp(at) in set(clean["ts"])
