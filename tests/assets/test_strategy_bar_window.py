"""The bars handed to the strategy: the last ``lookback`` known when the bar closed, read
within a time bound (so the read does not grow with the stored history) and again without
it when gaps leave the bound short."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pandas as pd
import pytest

from assets.strategy import LOOKBACK_SPAN_FACTOR, _load_bars
from trading_core.series import BarKey, SeriesKey

START = datetime(2026, 1, 1)


@pytest.fixture()
def conn() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(":memory:")
    conn.execute("create schema signals")
    conn.execute(
        "create table signals.fct_signals (exchange varchar, symbol varchar, "
        "timeframe varchar, ts timestamp, score double)"
    )
    return conn


def store(conn: duckdb.DuckDBPyConnection, symbol: str, times: list[datetime]) -> None:
    frame = pd.DataFrame(
        {"exchange": "binance", "symbol": symbol, "timeframe": "1m", "ts": times,
         "score": [float(i) for i in range(len(times))]}
    )  # fmt: skip
    conn.register("incoming", frame)
    conn.execute("insert into signals.fct_signals select * from incoming")
    conn.unregister("incoming")


def bar(symbol: str, ts: datetime) -> BarKey:
    return BarKey(SeriesKey("binance", symbol, "1m"), ts)


def test_the_last_bars_in_order_up_to_the_bar_never_after(conn) -> None:
    times = [START + timedelta(minutes=i) for i in range(2000)]
    store(conn, "BTC/USDT", times)
    store(conn, "ETH/USDT", times)
    got = _load_bars(conn, bar("BTC/USDT", times[1500]), 100)
    assert got["ts"].tolist() == times[1401:1501]
    assert set(got["symbol"]) == {"BTC/USDT"}


def test_a_gap_longer_than_the_bound_reads_the_older_bars_too(conn) -> None:
    lookback = 50
    old = [START + timedelta(minutes=i) for i in range(30)]
    gap = timedelta(minutes=lookback * LOOKBACK_SPAN_FACTOR * 2)
    recent = [old[-1] + gap + timedelta(minutes=i) for i in range(40)]
    store(conn, "BTC/USDT", old + recent)
    got = _load_bars(conn, bar("BTC/USDT", recent[-1]), lookback)
    assert got["ts"].tolist() == (old + recent)[-lookback:]


def test_a_short_history_gives_what_there_is(conn) -> None:
    times = [START + timedelta(minutes=i) for i in range(10)]
    store(conn, "BTC/USDT", times)
    assert _load_bars(conn, bar("BTC/USDT", times[-1]), 400)["ts"].tolist() == times
    assert _load_bars(conn, bar("SOL/USDT", times[-1]), 400).empty
