"""Writing a raw/ohlcv run: partitions replaced, bad rows quarantined, heads' quarantine kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from trading_core.config import MarketConfig
from trading_core.market.ingest import partition_window
from trading_core.market.ingest_plan import PartitionBatch, fetch_partition, settle_partitions
from trading_core.market.ingest_write import WriteSummary, read_stored, write_partitions
from trading_core.market.sim import SimMarket
from trading_core.series import SeriesKey
from trading_core.warehouse import ensure_schema, transaction

T0 = datetime(2025, 1, 1)
START, END = partition_window(T0)
KEY = "2025-01-01|BTC-USDT"
CFG = MarketConfig.model_validate(
    {"exchanges": ["sim"], "symbols": ["BTC/USDT"], "timeframes": ["1h", "4h"]}
)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        ensure_schema(connection)
        yield connection


def run(
    conn: duckdb.DuckDBPyConnection, now: datetime, bad_volume_at: int | None = None
) -> tuple[PartitionBatch, WriteSummary]:
    stored = read_stored(conn, "BTC/USDT", START, END)
    source = SimMarket()
    batch = fetch_partition(source, CFG, KEY, "BTC/USDT", (START, END), now, stored, validate=False)
    if bad_volume_at is not None:  # the source sent a bad candle at that hour
        at = batch.received["ts"] == T0 + timedelta(hours=bad_volume_at)
        batch.received.loc[at, "volume"] = -1.0
    (batch,) = settle_partitions([batch], source, CFG)
    with transaction(conn):
        return batch, write_partitions(conn, [batch])


def test_clean_rows_are_written_and_bad_rows_quarantined(conn) -> None:
    _, summary = run(conn, END + timedelta(hours=1), bad_volume_at=4)  # 04:00 is in both series
    assert (summary.rows, summary.quarantined_rows) == (24 + 6 - 2, 2)
    # the bad candle is validated with the rest: the partition is blocked, so no new bar
    assert summary.latest_bars() == {}
    reasons = conn.execute("select timeframe, reason from raw.ohlcv_quarantine order by 1")
    assert reasons.fetchall() == [("1h", "negative_volume"), ("4h", "negative_volume")]
    again, clean = run(conn, END + timedelta(hours=1))  # a re-run replaces, never appends
    assert clean.latest_bars() == {
        "sim|BTC/USDT|1h": "2025-01-01T23:00:00",
        "sim|BTC/USDT|4h": "2025-01-01T20:00:00",
    }
    assert conn.execute("select count(*) from raw.ohlcv").fetchone() == (30,)
    assert conn.execute("select count(*) from raw.ohlcv_quarantine").fetchone() == (0,)
    assert again.kept_heads == []


def test_an_incremental_run_keeps_the_quarantined_rows_of_its_head(conn) -> None:
    run(conn, T0 + timedelta(hours=12), bad_volume_at=1)
    batch, summary = run(conn, T0 + timedelta(hours=13))
    assert (SeriesKey("sim", "BTC/USDT", "1h"), T0 + timedelta(hours=9)) in batch.kept_heads
    quarantined = conn.execute("select timeframe, ts from raw.ohlcv_quarantine order by 1")
    assert quarantined.fetchall() == [("1h", T0 + timedelta(hours=1))]
    stored = conn.execute("select count(*) from raw.ohlcv where timeframe = '1h'").fetchone()
    assert stored == (12,)  # 00:00..12:00 closed, 01:00 quarantined
    assert summary.latest_bars()["sim|BTC/USDT|1h"] == "2025-01-01T12:00:00"


def test_nothing_to_write_writes_nothing(conn) -> None:
    empty = PartitionBatch(KEY, "BTC/USDT", START, END, read_stored(conn, "X", START, END),
                           [], 0, [], [])  # fmt: skip
    with transaction(conn):
        summary = write_partitions(conn, [empty])
    assert (summary.rows, summary.quarantined_rows, summary.latest_bars()) == (0, 0, {})
