"""The signal chain built incrementally equals a full rebuild of the same stored history.

Real candles (Binance BTC/USDT 1h and 4h, ETH/USDT 1h from ../shared/data) reach raw.ohlcv
in many small steps as the ingest assets write them: single bars, batches, refetched
candles, a corrected old candle, earlier history, a gap filled later, a partition blocked
and unblocked, a rewrite that drops bars, a series that appears later, late order books and
sentiment. After every step the chain runs incrementally; at checkpoints every column of
int_indicators, int_regimes, int_signal_inputs and fct_signals must equal a --full-refresh
of a copy of the warehouse (1e-12 relative, null where null). dbt runs in-process
(dbtRunner) against the real dbt project and a real DuckDB file.
"""

from __future__ import annotations

import logging
import re
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from dbt.adapters.duckdb.connections import DuckDBConnectionManager
from dbt.cli.main import dbtRunner

from trading_core.indicators import history_needed
from trading_core.warehouse import ensure_schema, replace_slice, table_columns

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
CHAIN = [
    "int_order_book_features", "int_indicators", "int_regimes", "int_signal_inputs",
    "fct_signals",
]  # fmt: skip
UPSTREAM = [
    "stg_ohlcv", "stg_order_book_snapshots", "stg_reddit_posts", "stg_x_posts",
    "stg_news_items", "int_sentiment_hourly",
]  # fmt: skip
TABLES = {
    "int_indicators": "intermediate",
    "int_regimes": "intermediate",
    "int_signal_inputs": "intermediate",
    "fct_signals": "signals",
}
KEYS = ["exchange", "symbol", "timeframe", "ts"]


def dbt(home: Path, *args: str) -> None:
    """One dbt invocation, in-process (its own target directory under ``home``)."""
    try:
        paths = {
            "--project-dir": PROJECT,
            "--profiles-dir": PROJECT,
            "--target-path": home / "dbt_target",
            "--log-path": home / "dbt_logs",
        }
        options = [part for flag, path in paths.items() for part in (flag, str(path))]
        result = dbtRunner().invoke([*args, *options, "--quiet"])
    finally:
        # dbt-duckdb keeps the database open in-process between invocations; close it as
        # the end of a dbt process would, so the next step opens the file afresh
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None
    assert result.success, result.exception or result.result


def candles(shared: Path, symbol: str, timeframe: str) -> pd.DataFrame:
    base = symbol.replace("/", "")
    frame = pd.read_csv(shared / "market" / f"binance_{base}_{timeframe}.csv")
    frame["ts"] = pd.to_datetime(frame.pop("timestamp")).dt.tz_localize(None)
    return frame.assign(
        exchange="binance", symbol=symbol, timeframe=timeframe, source="replay"
    ).astype({"ts": "datetime64[us]"})


class Raw:
    """Writes raw tables the way the ingest assets do: a slice replaced in one transaction,
    stamped with the market clock, which only moves forward."""

    def __init__(self, home: Path) -> None:
        self.path = home / "warehouse.duckdb"
        self.now = pd.Timestamp("2030-01-01")
        with duckdb.connect(str(self.path)) as conn:
            ensure_schema(conn)

    def tick(self) -> pd.Timestamp:
        self.now += timedelta(minutes=1)
        return self.now

    def bars(self, frame: pd.DataFrame, same_instant: bool = False) -> None:
        """Replace exactly these bars (new ones, or a refetch / correction of stored ones);
        ``same_instant``: at the instant of the last write (a clock that did not move)."""
        if not len(frame):
            return
        stamp = self.now if same_instant else self.tick()
        rows = frame.assign(ingested_at=stamp)[table_columns("raw.ohlcv")]
        with duckdb.connect(str(self.path)) as conn:
            conn.register("incoming", rows)
            replace_slice(
                conn,
                "raw.ohlcv",
                rows,
                "(exchange, symbol, timeframe, ts) in "
                "(select (exchange, symbol, timeframe, ts) from incoming)",
            )

    def drop(self, symbol: str, timeframe: str, since: pd.Timestamp) -> None:
        """Partition rewrites that no longer have the bars from ``since`` on."""
        with duckdb.connect(str(self.path)) as conn:
            days = conn.execute(
                "delete from raw.ohlcv where symbol = ? and timeframe = ? and ts >= ? "
                "returning date_trunc('day', ts)",
                [symbol, timeframe, since],
            ).fetchall()
        for (day,) in sorted(set(days)):
            self.check(pd.Timestamp(day), symbol, passed=True)

    def check(self, day: pd.Timestamp, symbol: str, passed: bool, asset: str = "raw/ohlcv") -> None:
        key = f"{day:%Y-%m-%d}|{symbol.replace('/', '-')}"
        row = pd.DataFrame(
            {
                "asset_key": [asset],
                "partition_key": [key],
                "check_name": ["no_gaps"],
                "passed": [passed],
                "severity": ["ERROR"],
                "failing_count": [0 if passed else 1],
                "checked_at": [self.tick()],
            }
        )
        with duckdb.connect(str(self.path)) as conn:
            replace_slice(
                conn,
                "raw.partition_checks",
                row,
                "asset_key = ? and partition_key = ?",
                [asset, key],
            )

    def drop_books(self, symbol: str, since: pd.Timestamp) -> None:
        """A rewrite of the order-book partition of ``since``'s day without the snapshots
        from ``since`` on."""
        with duckdb.connect(str(self.path)) as conn:
            conn.execute(
                "delete from raw.order_book_snapshots where symbol = ? and snapshot_ts >= ? "
                "and snapshot_ts < ?",
                [symbol, since, since.floor("D") + pd.Timedelta(days=1)],
            )
        self.check(since.floor("D"), symbol, passed=True, asset="raw/order_book_snapshots")

    def books(self, bars: pd.DataFrame, every: int) -> None:
        """Two-sided books of five levels around the close of every ``every``-th bar."""
        chosen = bars.iloc[::every]
        rows = []
        for bar in chosen.itertuples(index=False):
            moment = bar.ts + pd.Timedelta(hours=1)
            for level in range(5):
                for side, sign in (("bid", -1), ("ask", 1)):
                    price = bar.close * (1 + sign * 0.001 * (level + 1))
                    amount = 1.0 + (level * 7 + int(bar.volume)) % 5
                    rows.append((bar.exchange, bar.symbol, moment, side, level, price, amount))
        frame = pd.DataFrame(
            rows, columns=["exchange", "symbol", "snapshot_ts", "side", "level", "price", "amount"]
        ).assign(source="replay", ingested_at=self.tick())
        with duckdb.connect(str(self.path)) as conn:
            conn.register("incoming", frame)
            replace_slice(
                conn,
                "raw.order_book_snapshots",
                frame,
                "(symbol, snapshot_ts) in (select (symbol, snapshot_ts) from incoming)",
            )

    def posts(self, published: list[pd.Timestamp], compound: float) -> None:
        frame = pd.DataFrame(
            {
                "post_id": [f"p{t.value}-{compound}" for t in published],
                "published_at": published,
                "symbols": "BTC",
                "sentiment_compound": compound,
                "source": "replay",
                "ingested_at": self.tick(),
            }
        )
        for column in table_columns("raw.reddit_posts"):
            if column not in frame:
                frame[column] = None
        with duckdb.connect(str(self.path)) as conn:
            conn.register("incoming", frame)
            replace_slice(
                conn,
                "raw.reddit_posts",
                frame,
                "post_id in (select post_id from incoming)",
            )


def snapshot(path: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return {
            table: conn.execute(f"select * from {schema}.{table} order by {', '.join(KEYS)}").df()
            for table, schema in TABLES.items()
        }


def assert_same(incremental: dict[str, pd.DataFrame], full: dict[str, pd.DataFrame]) -> None:
    for table, expected in full.items():
        got = incremental[table]
        assert list(got.columns) == list(expected.columns), table
        assert len(got) == len(expected), f"{table}: {len(got)} rows, full refresh {len(expected)}"
        assert got[KEYS].equals(expected[KEYS]), f"{table}: different bars"
        for column in expected.columns:
            a, b = got[column], expected[column]
            if pd.api.types.is_float_dtype(b):
                x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
                both_nan = np.isnan(x) & np.isnan(y)
                close = np.abs(x - y) <= 1e-12 * np.maximum(np.abs(x), np.abs(y))
                bad = ~(both_nan | close)
                assert not bad.any(), (
                    f"{table}.{column}: {bad.sum()} values differ, first at "
                    f"{expected.loc[bad, KEYS].iloc[0].tolist()}: {x[bad][0]!r} != {y[bad][0]!r}"
                )
            else:
                same = (a == b) | (a.isna() & b.isna())
                assert same.all(), f"{table}.{column}: {(~same).sum()} values differ"


def full_refresh_of_copy(home: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    copy = tmp / f"full_{len(list(tmp.glob('full_*')))}"
    copy.mkdir()
    shutil.copy(home / "warehouse.duckdb", copy / "warehouse.duckdb")
    monkeypatch.setenv("TRADING_HOME", str(copy))
    dbt(copy, "run", "--full-refresh", "--select", *CHAIN)
    monkeypatch.setenv("TRADING_HOME", str(home))
    return snapshot(copy / "warehouse.duckdb")


def test_many_small_steps_give_the_full_rebuild(
    trading_home: Path, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hourly = candles(shared_data, "BTC/USDT", "1h").iloc[:4800].reset_index(drop=True)
    four = candles(shared_data, "BTC/USDT", "4h")
    four = four[four["ts"] >= hourly["ts"].iloc[0]].reset_index(drop=True)
    eth = candles(shared_data, "ETH/USDT", "1h").iloc[:700]
    eth_four = candles(shared_data, "ETH/USDT", "4h")
    eth_four = eth_four[eth_four["ts"].between(eth["ts"].iloc[200], eth["ts"].iloc[499])]
    raw = Raw(trading_home)
    cursor = 4000  # hourly bars [300, cursor) are stored; [0, 300) arrive later as history

    def advance(to: int, skip: range = range(0)) -> None:
        """The next hourly bars, and the 4h bars that closed by the previous step: the
        higher timeframe lags, so its bars change confluence of hourly bars already stored."""
        nonlocal cursor
        closed = hourly["ts"].iloc[cursor] + pd.Timedelta(hours=4)
        raw.bars(hourly.iloc[cursor:to].drop(index=list(skip), errors="ignore"))
        raw.bars(four[(four["ts"] >= hourly["ts"].iloc[cursor - 4]) & (four["ts"] < closed)])
        cursor = to

    raw.bars(hourly.iloc[300:cursor])
    raw.bars(four[four["ts"] + pd.Timedelta(hours=4) <= hourly["ts"].iloc[cursor]])
    raw.books(hourly.iloc[3900:cursor], every=3)
    raw.posts([hourly["ts"].iloc[3950] + pd.Timedelta(minutes=m) for m in (5, 30, 90)], 0.4)
    dbt(trading_home, "run", "--select", *UPSTREAM, *CHAIN)

    old = hourly.iloc[2000:2001].copy()
    old[["close", "high"]] *= 1.01
    # (step, compare with a full refresh afterwards)
    steps = [
        (lambda: advance(cursor + 1), False),
        (lambda: advance(cursor + 1), False),
        (lambda: advance(cursor + 3), False),  # a 4h bar closes with these
        (lambda: advance(cursor + 1), False),
        (lambda: advance(cursor + 60), False),
        (lambda: raw.bars(hourly.iloc[:300]), False),  # earlier history: an earlier start
        (lambda: raw.bars(old), True),  # a corrected candle 2,000 bars back
        (lambda: raw.bars(hourly.iloc[cursor - 3 : cursor]), False),  # refetched, unchanged
        (lambda: advance(cursor + 20, skip=range(cursor + 2, cursor + 7)), False),  # a gap
        (lambda: raw.bars(hourly.iloc[cursor - 18 : cursor - 13]), False),  # ... filled later
        (lambda: raw.bars(eth.iloc[:500]), False),  # a new series
        (lambda: raw.check(hourly["ts"].iloc[3000].floor("D"), "BTC/USDT", False), False),
        (lambda: advance(cursor + 1), True),  # ... while a day of it is blocked
        (lambda: raw.check(hourly["ts"].iloc[3000].floor("D"), "BTC/USDT", True), False),
        (lambda: raw.books(hourly.iloc[cursor - 30 : cursor], every=2), False),  # late books
        (lambda: raw.posts([hourly["ts"].iloc[cursor - 5]], -0.8), False),  # late sentiment
        (lambda: advance(cursor + 4), False),
        (lambda: raw.drop("BTC/USDT", "1h", hourly["ts"].iloc[cursor - 2]), False),
        (lambda: advance(cursor + 1), True),  # the dropped bars' successor ...
        (lambda: raw.bars(hourly.iloc[cursor - 3 : cursor - 1]), False),  # ... and them again
        (lambda: raw.bars(eth_four), False),  # a higher timeframe appears: aligned changes
        (lambda: raw.bars(eth.iloc[500:]), False),
        (lambda: raw.books(hourly.iloc[cursor - 2 : cursor], every=1), False),
        (lambda: raw.drop_books("BTC/USDT", hourly["ts"].iloc[cursor - 12]), False),
        (lambda: advance(cursor + 1), False),
        (lambda: raw.bars(old.assign(close=old["close"] * 1.01), same_instant=True), False),
        (lambda: advance(cursor + 7), False),
        (lambda: advance(cursor + 30), False),
        (lambda: advance(cursor + 1), False),
        (lambda: advance(cursor + 2), False),
        (lambda: advance(cursor + 1), False),
        (lambda: advance(cursor + 5), True),
    ]
    for step, compare in steps:
        step()
        dbt(trading_home, "run", "--select", "int_sentiment_hourly", *CHAIN)
        if compare:
            assert_same(
                snapshot(trading_home / "warehouse.duckdb"),
                full_refresh_of_copy(trading_home, tmp_path, monkeypatch),
            )

    signals = snapshot(trading_home / "warehouse.duckdb")["fct_signals"]
    per_series = signals.groupby(["symbol", "timeframe"]).size().to_dict()
    assert per_series[("BTC/USDT", "1h")] == cursor and per_series[("ETH/USDT", "1h")] == len(eth)
    assert per_series[("BTC/USDT", "4h")] > 0 and per_series[("ETH/USDT", "4h")] > 0
    assert signals["book_imbalance"].notna().any() and signals["sentiment_score"].notna().any()
    assert signals["aligned"].any()


def read_counts(caplog: pytest.LogCaptureFixture) -> list[tuple[int, int, int]]:
    """(rows, series, most rows of one series) of every incremental read logged."""
    pattern = re.compile(r"read (\d+) rows of (\d+) series from .* \(at most (\d+) per series\)")
    return [
        tuple(int(g) for g in match.groups())
        for record in caplog.records
        if (match := pattern.search(record.getMessage()))
    ]


@pytest.mark.parametrize("history", [4000, 16000])
def test_a_new_bar_reads_the_same_rows_whatever_the_history(
    history: int,
    trading_home: Path,
    shared_data: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hourly = candles(shared_data, "BTC/USDT", "1h").iloc[: history + 1]
    raw = Raw(trading_home)
    raw.bars(hourly.iloc[:history])
    dbt(trading_home, "run", "--select", *UPSTREAM, *CHAIN)
    raw.bars(hourly.iloc[history:])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="trading_core.incremental"):
        dbt(trading_home, "run", "--select", *CHAIN)
    reads = read_counts(caplog)
    # int_indicators: its warm-up from itself + the new bar; int_regimes: 99 + 1 bars;
    # fct_signals: the new bar (and no stored higher timeframe)
    assert reads == [(history_needed(), 1, history_needed()), (1, 1, 1), (100, 1, 100), (1, 1, 1)]


STATE = [
    "intermediate.int_indicators__watermark",
    "intermediate.int_order_book_features__watermark",
    "intermediate.int_signal_inputs__sentiment_seen",
    "intermediate.recompute_marks",
    "intermediate.recompute_recipes",
    "signals.fct_signals__series",
]


def test_a_warehouse_built_before_the_chain_was_incremental_catches_up(
    trading_home: Path, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hourly = candles(shared_data, "BTC/USDT", "1h").iloc[:3600]
    four = candles(shared_data, "BTC/USDT", "4h")
    four = four[four["ts"].between(hourly["ts"].iloc[0], hourly["ts"].iloc[3400])]
    raw = Raw(trading_home)
    raw.bars(hourly.iloc[:3500])
    raw.bars(four)
    raw.books(hourly.iloc[3400:3500], every=4)
    dbt(trading_home, "run", "--select", *UPSTREAM, *CHAIN)
    with duckdb.connect(str(raw.path)) as conn:  # what a table-materialized chain left
        for table in STATE:
            conn.execute(f"drop table {table}")
    raw.bars(hourly.iloc[3500:])
    raw.books(hourly.iloc[3500:], every=4)
    dbt(trading_home, "run", "--select", *CHAIN)
    assert_same(
        snapshot(trading_home / "warehouse.duckdb"),
        full_refresh_of_copy(trading_home, tmp_path, monkeypatch),
    )
    with duckdb.connect(str(raw.path)) as conn:
        left = conn.execute(
            "select count(*) from information_schema.tables where table_name like '%dbt_tmp%'"
        ).fetchall()
    assert left == [(0,)], "dbt temporary tables were left in the warehouse"
