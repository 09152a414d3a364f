"""History behind the live edge is folded into the signal chain a bounded amount per run.

Real candles (Binance BTC/USDT and ETH/USDT 1h from ../shared/data): 4,000 bars of each are
stored and built; then 300 earlier bars of each arrive (a backfill) with the next bar. With
a budget of 1,000 rows per run, the first run computes both new bars and the history of the
first market only, deferring the other's; the deferred market's new bar already equals a
full rebuild (every column but the running total ``obv``), and the next run leaves nothing
deferred and the whole chain equal to a full rebuild (trading_core/incremental_history.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.dbt.test_incremental_signals import (
    CHAIN,
    UPSTREAM,
    Raw,
    assert_same,
    candles,
    dbt,
    full_refresh_of_copy,
    snapshot,
)
from trading_core import incremental_history as hist
from trading_core.indicators import INDICATOR_COLUMNS

pytestmark = pytest.mark.integration

BUDGET = ["--vars", json.dumps({"history_rows_per_run": 1000})]


def deferred(path: Path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(
            "select symbol, timeframe, recompute_from from intermediate.recompute_marks "
            "where consumer = ? order by all",
            [hist.DEFERRED],
        ).df()


def rows_of(path: Path, table: str, symbol: str) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(f"select count(*) from {table} where symbol = ?", [symbol]).fetchone()[
            0
        ]


def test_a_backfill_is_folded_in_market_by_market_and_ends_equal_to_a_full_rebuild(
    trading_home: Path, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    btc = candles(shared_data, "BTC/USDT", "1h").iloc[:4002].reset_index(drop=True)
    eth = candles(shared_data, "ETH/USDT", "1h").iloc[:4002].reset_index(drop=True)
    raw = Raw(trading_home)
    for frame in (btc, eth):
        raw.bars(frame.iloc[300:4000])
    dbt(trading_home, "run", "--select", *UPSTREAM, *CHAIN, *BUDGET)
    warehouse = trading_home / "warehouse.duckdb"

    for frame in (btc, eth):  # a backfill of earlier history, and the next live bar
        raw.bars(frame.iloc[:300])
        raw.bars(frame.iloc[4000:4001])
    dbt(trading_home, "run", "--select", "int_sentiment_hourly", *CHAIN, *BUDGET)

    # the live edge of both markets is computed; only BTC's history fitted the budget
    signals = snapshot(warehouse)["fct_signals"]
    newest = signals.groupby("symbol")["ts"].max()
    assert newest["BTC/USDT"] == btc["ts"].iloc[4000]
    assert newest["ETH/USDT"] == eth["ts"].iloc[4000]
    assert rows_of(warehouse, "intermediate.int_indicators", "BTC/USDT") == 4001
    assert rows_of(warehouse, "intermediate.int_indicators", "ETH/USDT") == 3701
    later = deferred(warehouse)
    assert later[["symbol", "timeframe"]].values.tolist() == [["ETH/USDT", "1h"]]
    assert later["recompute_from"].iloc[0] == eth["ts"].iloc[0]

    # the deferred history cannot move the edge: ETH's new bar equals a full rebuild's
    full = full_refresh_of_copy(trading_home, tmp_path, monkeypatch)
    edge = eth["ts"].iloc[4000]
    got = snapshot(warehouse)["int_indicators"]
    want = full["int_indicators"]
    mine = got[(got["symbol"] == "ETH/USDT") & (got["ts"] == edge)]
    theirs = want[(want["symbol"] == "ETH/USDT") & (want["ts"] == edge)]
    for column in INDICATOR_COLUMNS:
        if column == "obv":  # a running total: it shifts with the start (nothing reads it)
            continue
        x, y = float(mine[column].iloc[0]), float(theirs[column].iloc[0])
        assert (np.isnan(x) and np.isnan(y)) or abs(x - y) <= 1e-12 * max(abs(x), abs(y)), column

    # the next run takes the deferred market: nothing is left and the chain is exact
    raw.bars(btc.iloc[4001:4002])
    raw.bars(eth.iloc[4001:4002])
    dbt(trading_home, "run", "--select", "int_sentiment_hourly", *CHAIN, *BUDGET)
    assert deferred(warehouse).empty
    assert_same(snapshot(warehouse), full_refresh_of_copy(trading_home, tmp_path, monkeypatch))


def test_a_large_budget_defers_nothing(trading_home: Path, shared_data: Path) -> None:
    btc = candles(shared_data, "BTC/USDT", "1h").iloc[:3900].reset_index(drop=True)
    raw = Raw(trading_home)
    raw.bars(btc.iloc[300:3800])
    dbt(trading_home, "run", "--select", *UPSTREAM, *CHAIN)
    raw.bars(btc.iloc[:300])
    raw.bars(btc.iloc[3800:])
    dbt(trading_home, "run", "--select", "int_sentiment_hourly", *CHAIN)  # default budget
    warehouse = trading_home / "warehouse.duckdb"
    assert deferred(warehouse).empty
    assert rows_of(warehouse, "signals.fct_signals", "BTC/USDT") == 3900


def test_the_evaluation_pass_defers_all_history_and_signal_history_folds_it(
    trading_home: Path, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The evaluation job's dbt pass (TRADING_SIGNAL_HISTORY=defer) computes only the live
    edge, even of a market whose history would fit the budget; the run's `signals/history`
    step waits while a backfill is in progress, then folds it through the real dbt resource,
    and skips dbt with nothing deferred."""
    import dagster as dg
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster_duckdb import DuckDBResource

    from assets.signal_history import signal_history
    from trading_pipelines.dbt import dbt_resource

    btc = candles(shared_data, "BTC/USDT", "1h").iloc[:4001].reset_index(drop=True)
    raw = Raw(trading_home)
    raw.bars(btc.iloc[300:4000])
    dbt(trading_home, "run", "--select", *UPSTREAM, *CHAIN)
    warehouse = trading_home / "warehouse.duckdb"
    raw.bars(btc.iloc[:300])  # a backfill of earlier history, and the next live bar
    raw.bars(btc.iloc[4000:4001])
    monkeypatch.setenv(hist.HISTORY_ENV, "defer")
    dbt(trading_home, "run", "--select", "int_sentiment_hourly", *CHAIN)
    monkeypatch.delenv(hist.HISTORY_ENV)
    assert rows_of(warehouse, "signals.fct_signals", "BTC/USDT") == 3701  # the edge only
    assert snapshot(warehouse)["fct_signals"]["ts"].max() == btc["ts"].iloc[4000]
    assert deferred(warehouse)["recompute_from"].tolist() == [btc["ts"].iloc[0]]

    resources = {"warehouse": DuckDBResource(database=str(warehouse)), "dbt": dbt_resource()}
    with dg.DagsterInstance.ephemeral() as instance:  # while a backfill runs, it waits
        instance.add_backfill(
            PartitionBackfill(
                backfill_id="yearback",
                status=BulkActionStatus.REQUESTED,
                from_failure=False,
                tags={},
                backfill_timestamp=0.0,
                asset_selection=[dg.AssetKey(["raw", "ohlcv"])],
            )
        )
        waited = dg.materialize([signal_history], resources=resources, instance=instance)
    meta = waited.asset_materializations_for_node("signals__history")[0].metadata
    assert meta["backfill"].value == "yearback" and meta["deferred_after"].value == 1
    assert len(deferred(warehouse)) == 1

    folded = dg.materialize([signal_history], resources=resources)
    meta = folded.asset_materializations_for_node("signals__history")[0].metadata
    assert (meta["deferred_before"].value, meta["deferred_after"].value) == (1, 0)
    assert deferred(warehouse).empty
    assert rows_of(warehouse, "signals.fct_signals", "BTC/USDT") == 4001
    assert_same(snapshot(warehouse), full_refresh_of_copy(trading_home, tmp_path, monkeypatch))

    again = dg.materialize([signal_history], resources=resources)
    meta = again.asset_materializations_for_node("signals__history")[0].metadata
    assert "seconds" not in meta and meta["deferred_before"].value == 0
