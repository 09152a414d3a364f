"""The warehouse side of a raw/ohlcv run: read what a partition holds, write what it fetched.

Everything is fetched and validated first (``trading_core.market.ingest_plan``); then the
run's partitions are replaced inside the caller's ONE transaction, so a failure commits
nothing and a re-run gives identical rows. Bad rows never reach raw.ohlcv silently: they go
to raw.ohlcv_quarantine with their reason (malformed source lines with their line number,
bars held by the spike policy with reason ``spike_held``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trading_core.market.ingest_plan import PartitionBatch
from trading_core.series import SeriesKey
from trading_core.warehouse import replace_rows, table_columns


def read_stored(
    conn: duckdb.DuckDBPyConnection, symbol: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """The candles of ``symbol`` (every exchange and timeframe) already stored in a partition
    window, oldest first within each series."""
    return conn.execute(
        f"select {', '.join(table_columns('raw.ohlcv'))} from raw.ohlcv "
        "where symbol = ? and ts >= ? and ts < ? order by exchange, timeframe, ts",
        [symbol, start, end],
    ).df()


def read_held(
    conn: duckdb.DuckDBPyConnection, symbol: str, start: datetime, end: datetime
) -> dict[tuple[str, str], datetime]:
    """Per (exchange, timeframe), the oldest bar of a partition window the spike hold keeps
    in raw.ohlcv_quarantine: the day in progress re-fetches from it to re-judge it."""
    rows = conn.execute(
        "select exchange, timeframe, min(ts) from raw.ohlcv_quarantine "
        "where symbol = ? and ts >= ? and ts < ? and reason like 'spike_held%' "
        "group by exchange, timeframe",
        [symbol, start, end],
    ).fetchall()
    return {(exchange, timeframe): ts for exchange, timeframe, ts in rows}


@dataclass
class WriteSummary:
    """What a run wrote, for its metadata."""

    rows: int = 0
    quarantined_rows: int = 0
    # newest clean bar of the partitions not blocked (a blocked one's bars reach no signal)
    newest: dict[SeriesKey, datetime] = field(default_factory=dict)

    def latest_bars(self) -> dict[str, str]:
        """``exchange|symbol|timeframe`` -> ISO open time: what the new-bar sensor reads."""
        return {str(series): ts.isoformat() for series, ts in self.newest.items()}


def _quarantine_slice(batch: PartitionBatch) -> tuple[str, list[object]]:
    """The quarantined rows a partition replaces: all but those of its kept heads."""
    # a row without a time (a malformed source line) is never part of a kept head
    kept = " or ".join(
        ["(exchange = ? and timeframe = ? and coalesce(ts < ?, false))"] * len(batch.kept_heads)
    )
    where = f"partition_key = ? and not ({kept})" if kept else "partition_key = ?"
    params: list[object] = [batch.key]
    for series, fetch_start in batch.kept_heads:
        params += [series.exchange, series.timeframe, fetch_start]
    return where, params


def write_partitions(
    conn: duckdb.DuckDBPyConnection, batches: Iterable[PartitionBatch]
) -> WriteSummary:
    """Replace each partition's candles by its clean rows and its quarantine by its bad rows
    (no transaction control: call inside ``trading_core.warehouse.transaction``)."""
    summary = WriteSummary()
    batches = list(batches)
    # one DELETE per slice, then ONE insert per table for the whole run: a year's backfill
    # pays the insert's fixed cost once, not once per partition
    days = [[b.symbol, b.start, b.end] for b in batches if not b.resumed]
    if days:
        conn.executemany("DELETE FROM raw.ohlcv WHERE symbol = ? and ts >= ? and ts < ?", days)
    # a resumed day in progress (trading_core.market.ohlcv_resume) replaces only its slice
    slices = [
        [s.exchange, s.symbol, s.timeframe, fetch_start, b.end]
        for b in batches
        if b.resumed
        for s, fetch_start in b.kept_heads
    ]
    if slices:
        conn.executemany(
            "DELETE FROM raw.ohlcv WHERE exchange = ? and symbol = ? and timeframe = ? "
            "and ts >= ? and ts < ?",
            slices,
        )
    whole = [b for b in batches if not b.kept_heads]
    if whole:
        conn.executemany(
            "DELETE FROM raw.ohlcv_quarantine WHERE partition_key = ?", [[b.key] for b in whole]
        )
    for batch in batches:
        if batch.kept_heads:
            where, params = _quarantine_slice(batch)
            conn.execute(f"DELETE FROM raw.ohlcv_quarantine WHERE {where}", params)
    cleans = [_in_series_order(b.clean) for b in batches]
    bads = [b.quarantined.assign(partition_key=b.key) for b in batches]
    if batches:
        summary.rows = replace_rows(conn, "raw.ohlcv", pd.concat(cleans), "false")
        summary.quarantined_rows = replace_rows(
            conn, "raw.ohlcv_quarantine", pd.concat(bads), "false"
        )
    for batch, clean in zip(batches, cleans, strict=True):
        if batch.blocked:
            continue
        for exchange, timeframe, newest in _series_ends(clean):
            series = SeriesKey(exchange, batch.symbol, timeframe)
            summary.newest[series] = max(summary.newest.get(series, newest), newest)
    return summary


ORDER = ["exchange", "timeframe", "ts"]


def _boundaries(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of neighbouring rows: the series changes (exchange or timeframe differ), and
    the pair is in ``ORDER``. Compared column by column (no text factorized or hashed)."""
    ex, tf = (pa.array(frame[c]) for c in ("exchange", "timeframe"))

    def pairs(op: str, text: pa.Array) -> np.ndarray:
        compared = pc.call_function(op, [text[1:], text[:-1]]).fill_null(False)
        return compared.to_numpy(zero_copy_only=False)

    ts = frame["ts"].to_numpy()
    ex_eq, tf_eq = pairs("equal", ex), pairs("equal", tf)
    later = ex_eq & (pairs("greater", tf) | (tf_eq & (ts[1:] >= ts[:-1])))
    return ~(ex_eq & tf_eq), pairs("greater", ex) | later


def _in_series_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` sorted by exchange, timeframe, ts (stable); as given when it already is."""
    if len(frame) < 2 or _boundaries(frame)[1].all():
        return frame
    return frame.sort_values(ORDER, kind="mergesort")


def _series_ends(clean: pd.DataFrame) -> list[tuple[str, str, datetime]]:
    """``(exchange, timeframe, newest ts)`` of each series of a frame in series order."""
    if clean.empty:
        return []
    change = _boundaries(clean)[0]
    ends = np.append(np.flatnonzero(change), len(clean) - 1)
    last = clean.iloc[ends]
    return [
        (str(ex), str(tf), pd.Timestamp(ts).to_pydatetime())
        for ex, tf, ts in zip(last["exchange"], last["timeframe"], last["ts"], strict=True)
    ]
