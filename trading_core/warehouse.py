"""The DuckDB warehouse: the tables Python assets write and the one way rows are written.

Only Dagster runs write the warehouse (pool ``duckdb_warehouse``, limit 1). Every write
replaces a slice (a partition, a snapshot) in one transaction, so a re-run gives identical
rows and a failure commits nothing. All timestamps are naive UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

TABLES: dict[str, str] = {
    "raw.ohlcv": """
        exchange VARCHAR NOT NULL,
        symbol VARCHAR NOT NULL,
        timeframe VARCHAR NOT NULL,
        ts TIMESTAMP NOT NULL,          -- candle open time (event time)
        open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
        source VARCHAR NOT NULL,        -- sim | replay | ccxt
        ingested_at TIMESTAMP NOT NULL  -- when we learned it
    """,
    "raw.ohlcv_quarantine": """
        exchange VARCHAR, symbol VARCHAR, timeframe VARCHAR, ts TIMESTAMP,
        open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
        source VARCHAR, ingested_at TIMESTAMP,
        partition_key VARCHAR NOT NULL,
        reason VARCHAR NOT NULL
    """,
    "raw.order_book_snapshots": """
        exchange VARCHAR NOT NULL,
        symbol VARCHAR NOT NULL,
        snapshot_ts TIMESTAMP NOT NULL,
        side VARCHAR NOT NULL,          -- bid | ask
        level INTEGER NOT NULL,         -- 0 = best
        price DOUBLE, amount DOUBLE,
        source VARCHAR NOT NULL,
        ingested_at TIMESTAMP NOT NULL
    """,
    "raw.order_book_quarantine": """
        exchange VARCHAR, symbol VARCHAR, snapshot_ts TIMESTAMP, side VARCHAR,
        level INTEGER, price DOUBLE, amount DOUBLE, source VARCHAR, ingested_at TIMESTAMP,
        partition_key VARCHAR NOT NULL,
        reason VARCHAR NOT NULL
    """,
    "raw.trades": """
        exchange VARCHAR NOT NULL,
        symbol VARCHAR NOT NULL,
        ts TIMESTAMP NOT NULL,          -- trade time (event time)
        trade_id VARCHAR NOT NULL,
        side VARCHAR NOT NULL,          -- taker side: buy | sell
        price DOUBLE, amount DOUBLE,
        source VARCHAR NOT NULL,
        ingested_at TIMESTAMP NOT NULL
    """,
    "raw.trades_quarantine": """
        exchange VARCHAR, symbol VARCHAR, ts TIMESTAMP, trade_id VARCHAR, side VARCHAR,
        price DOUBLE, amount DOUBLE, source VARCHAR, ingested_at TIMESTAMP,
        partition_key VARCHAR NOT NULL,
        reason VARCHAR NOT NULL
    """,
    "raw.funding_rates": """
        exchange VARCHAR NOT NULL,
        symbol VARCHAR NOT NULL,        -- the configured (spot) symbol: BTC/USDT
        contract VARCHAR NOT NULL,      -- its perpetual: BTC/USDT:USDT
        ts TIMESTAMP NOT NULL,          -- funding time
        funding_rate DOUBLE,
        source VARCHAR NOT NULL,
        ingested_at TIMESTAMP NOT NULL
    """,
    "raw.open_interest": """
        exchange VARCHAR NOT NULL,
        symbol VARCHAR NOT NULL,
        contract VARCHAR NOT NULL,
        ts TIMESTAMP NOT NULL,          -- the instant the figure describes
        open_interest DOUBLE,           -- base-asset units
        open_interest_value DOUBLE,     -- quote currency
        source VARCHAR NOT NULL,
        ingested_at TIMESTAMP NOT NULL
    """,
    "raw.reddit_posts": """
        post_id VARCHAR NOT NULL,
        subreddit VARCHAR,
        title VARCHAR,
        selftext VARCHAR,
        url VARCHAR,
        score INTEGER,
        num_comments INTEGER,
        author_hash VARCHAR,            -- pseudonym, never the user name
        published_at TIMESTAMP NOT NULL,
        symbols VARCHAR,                -- comma-separated base assets mentioned (BTC,ETH)
        sentiment_compound DOUBLE, sentiment_pos DOUBLE, sentiment_neu DOUBLE, sentiment_neg DOUBLE,
        source VARCHAR NOT NULL,        -- praw | replay
        ingested_at TIMESTAMP NOT NULL
    """,
    "raw.x_posts": """
        post_id VARCHAR NOT NULL,
        text VARCHAR,
        published_at TIMESTAMP NOT NULL,
        symbols VARCHAR,
        sentiment_compound DOUBLE, sentiment_pos DOUBLE, sentiment_neu DOUBLE, sentiment_neg DOUBLE,
        source VARCHAR NOT NULL,        -- tweepy | replay
        ingested_at TIMESTAMP NOT NULL
    """,
    "raw.news_items": """
        item_id VARCHAR NOT NULL,       -- guid, else link
        feed VARCHAR,
        title VARCHAR,
        summary VARCHAR,
        link VARCHAR,
        published_at TIMESTAMP NOT NULL,
        symbols VARCHAR,
        sentiment_compound DOUBLE, sentiment_pos DOUBLE, sentiment_neu DOUBLE, sentiment_neg DOUBLE,
        source VARCHAR NOT NULL,        -- feedparser
        ingested_at TIMESTAMP NOT NULL
    """,
    "raw.onchain_metrics": """
        asset VARCHAR NOT NULL,         -- BTC, UNI, ...
        metric VARCHAR NOT NULL,
        ts TIMESTAMP NOT NULL,          -- the day/instant the value describes
        value DOUBLE,
        source VARCHAR NOT NULL,        -- http | replay
        ingested_at TIMESTAMP NOT NULL
    """,
    "raw.partition_checks": """
        asset_key VARCHAR NOT NULL,     -- raw/ohlcv, raw/order_book_snapshots, ...
        partition_key VARCHAR NOT NULL, -- 2025-01-02|BTC-USDT
        check_name VARCHAR NOT NULL,
        passed BOOLEAN NOT NULL,
        severity VARCHAR NOT NULL,      -- ERROR blocks downstream signals; WARN flags
        failing_count BIGINT,
        checked_at TIMESTAMP NOT NULL
    """,
    "strategy.order_intents": """
        intent_id VARCHAR NOT NULL,     -- deterministic: the same bar never gives two intents
        strategy VARCHAR NOT NULL,
        exchange VARCHAR NOT NULL,
        symbol VARCHAR NOT NULL,
        timeframe VARCHAR NOT NULL,
        bar_ts TIMESTAMP NOT NULL,      -- open time of the decision bar
        decided_at TIMESTAMP NOT NULL,  -- the bar's close: when the decision was knowable
        side VARCHAR NOT NULL,
        action VARCHAR NOT NULL,        -- open | close
        order_type VARCHAR NOT NULL,
        notional DOUBLE, quantity DOUBLE, limit_price DOUBLE,
        reference_price DOUBLE,
        stop_loss DOUBLE, take_profit DOUBLE, trailing_stop_pct DOUBLE,
        reasons VARCHAR,                -- JSON: why the strategy decided
        run_id VARCHAR,                 -- the Dagster run that evaluated the bar
        evaluated_at TIMESTAMP NOT NULL
    """,
    "raw.quarantine": """
        asset_key VARCHAR NOT NULL,     -- which raw asset rejected the row
        partition_key VARCHAR,
        reason VARCHAR NOT NULL,
        payload VARCHAR,                -- the rejected record as JSON
        ingested_at TIMESTAMP NOT NULL
    """,
}


def table_columns(table: str) -> list[str]:
    """Column names of a table, in DDL order."""
    names = []
    for line in TABLES[table].splitlines():
        code = line.split("--", 1)[0]
        for part in code.split(","):
            words = part.split()
            if len(words) >= 2 and words[0].isidentifier():
                names.append(words[0])
    return names


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    for schema in sorted({table.split(".")[0] for table in TABLES}):
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table, columns in TABLES.items():
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")


@contextmanager
def connect(path: Path | str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(str(path), read_only=read_only)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Commit everything written inside, or nothing."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def replace_rows(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    frame: pd.DataFrame,
    where: str,
    params: list[Any] | None = None,
) -> int:
    """Delete the rows of ``table`` matching ``where`` and insert ``frame`` (no transaction
    control: call inside ``transaction``). ``frame`` must have the table's columns."""
    columns = table_columns(table)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{table}: frame lacks columns {missing}")
    conn.execute(f"DELETE FROM {table} WHERE {where}", params or [])
    if len(frame):
        conn.register("_replace_rows", frame[columns])
        try:
            names = ", ".join(columns)
            with _one_thread(conn):
                conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _replace_rows")
        finally:
            conn.unregister("_replace_rows")
    return len(frame)


@contextmanager
def _one_thread(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB on one thread for an insert from a frame: the frame's scan is one task, so a
    second thread only waits (25 % more CPU for the same wall time; benchmarks/README.md,
    bulk load); the setting is the caller's again afterwards."""
    (threads,) = conn.execute("SELECT current_setting('threads')").fetchone() or (None,)
    if threads is None or int(threads) <= 1:
        yield
        return
    conn.execute("SET threads = 1")
    try:
        yield
    finally:
        conn.execute(f"SET threads = {int(threads)}")


def replace_slice(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    frame: pd.DataFrame,
    where: str,
    params: list[Any] | None = None,
) -> int:
    """Delete the rows of ``table`` matching ``where`` and insert ``frame``, in one transaction.

    ``frame`` must have exactly the table's columns (any order). Returns the rows inserted.
    """
    with transaction(conn):
        return replace_rows(conn, table, frame, where, params)
