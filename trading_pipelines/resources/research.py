"""The research warehouse: a DuckDB file of its own, fed by a Parquet snapshot of the candles,
and research work that cannot take the live path's cores.

DuckDB locks the whole file across processes and the live warehouse has one writer at a
time (pool ``duckdb_warehouse``, limit 1), so a sweep that read it for minutes would hold the
live evaluation up for minutes. Instead research is split in two:

- ``research/candles`` (pool ``duckdb_warehouse``) copies the clean candles of stg_ohlcv to
  one Parquet file in the lake: a short, bounded step (about 1 s per 5 million candles on
  2 cores), the file replaced atomically, so research still reading the last one is not
  disturbed;
- research assets (pool ``duckdb_research``, limit 1) read that file and write their results
  to ``research.duckdb``; they never open the live file.

Their work runs in a worker thread at a lower CPU priority (``niceness``) with ``threads``
numba and DuckDB threads. On Linux the nice value belongs to a thread and is inherited by
the threads it starts (DuckDB's, numba's), so the run process's other threads, and a test
process that materializes research in-process, keep their own priority.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
from pydantic import Field

from trading_core.config import Paths

CANDLES_KEY = dg.AssetKey(["research", "candles"])
CANDLE_COLUMNS = "exchange, symbol, timeframe, ts, open, high, low, close, volume"


def export_candles(conn: duckdb.DuckDBPyConnection, target: Path) -> pd.DataFrame:
    """Copy the clean candles (staging.stg_ohlcv) of ``conn`` to the Parquet file ``target``,
    replaced atomically; return its series: exchange, symbol, timeframe, bars, first, last."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        conn.execute(f"copy ({_candles_query(conn)}) to ? (format parquet)", [str(partial)])
    except duckdb.CatalogException as exc:
        raise dg.Failure(
            f"the warehouse has no staging.stg_ohlcv yet: materialize stg_ohlcv first ({exc})"
        ) from exc
    series = conn.execute(
        "select exchange, symbol, timeframe, count(*) as bars, min(ts) as first, "
        "max(ts) as last from read_parquet(?) group by all order by all",
        [str(partial)],
    ).df()
    os.replace(partial, target)
    return series


def _candles_query(conn: duckdb.DuckDBPyConnection) -> str:
    """The clean candles with, when fct_signals has them, the point-in-time alternative
    inputs of each bar (trading_core.alt_inputs.ALT_COLUMNS, as the live signal saw them)."""
    from trading_core.alt_inputs import ALT_COLUMNS

    have = {
        name
        for (name,) in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'signals' and table_name = 'fct_signals'"
        ).fetchall()
    }
    alt = [c for c in ALT_COLUMNS if c in have]
    if not alt:
        return f"select {CANDLE_COLUMNS} from staging.stg_ohlcv"
    keys = "exchange, symbol, timeframe, ts"
    picked = ", ".join(f"f.{c}" for c in alt)
    return (
        f"select c.*, {picked} from (select {CANDLE_COLUMNS} from staging.stg_ohlcv) as c "
        f"left join signals.fct_signals as f using ({keys}) order by {keys}"
    )


def save_table(conn: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    """Replace table ``name`` of the research file with ``frame`` (the latest run's results).
    The file is named research.duckdb, so readers spell the table ``research.<name>``,
    whether they open the file or ATTACH it."""
    conn.register("_research_rows", frame)
    try:
        conn.execute(f"create or replace table {name} as select * from _research_rows")
    finally:
        conn.unregister("_research_rows")


def thread_niceness() -> int:
    """The CPU priority (nice value) of the calling thread."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


class ResearchWarehouse(dg.ConfigurableResource):
    """Where research reads candles (a Parquet snapshot) and writes results (its own DuckDB
    file), and how much of the machine a research step may take."""

    database: str = Field(description="The research DuckDB file (never the live warehouse).")
    snapshot: str = Field(description="The Parquet snapshot of the clean candles.")
    threads: int = Field(default=1, ge=1, description="numba and DuckDB threads of a step.")
    niceness: int = Field(default=10, ge=0, le=19, description="nice value of research work.")

    @classmethod
    def under(cls, root: Paths) -> ResearchWarehouse:
        return cls(
            database=str(root.research_warehouse),
            snapshot=str(root.lake / "research" / "candles.parquet"),
        )

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(self.database, config={"threads": self.threads})
        try:
            yield conn
        finally:
            conn.close()

    def _snapshot(self) -> str:
        if not Path(self.snapshot).is_file():
            raise dg.Failure(
                f"no candle snapshot at {self.snapshot}: materialize "
                f"{CANDLES_KEY.to_user_string()} first (the `research` job runs it before "
                "the research assets)"
            )
        return self.snapshot

    def bars(
        self, conn: duckdb.DuckDBPyConnection, timeframe: str, symbols: list[str]
    ) -> dict[tuple[str, str], pd.DataFrame]:
        """Bars per (exchange, symbol) of ``timeframe`` from the snapshot, oldest first."""
        frame = conn.execute(
            "select * exclude (timeframe) from read_parquet(?) "  # with the alt inputs
            "where timeframe = ? order by exchange, symbol, ts",
            [self._snapshot(), timeframe],
        ).df()
        if symbols:
            frame = frame[frame["symbol"].isin(symbols)]
        return {
            key: group.drop(columns=["exchange", "symbol"]).reset_index(drop=True)
            for key, group in frame.groupby(["exchange", "symbol"], sort=True)
        }

    def timeframes(self, conn: duckdb.DuckDBPyConnection) -> list[str]:
        rows = conn.execute(
            "select distinct timeframe from read_parquet(?) order by 1", [self._snapshot()]
        ).fetchall()
        return [row[0] for row in rows]

    def run(self, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``work()`` (which returns asset metadata) in a worker thread at nice ``niceness``
        with ``threads`` numba threads; the metadata gains the limits it really ran with."""

        def bounded() -> dict[str, Any]:
            import numba

            os.nice(max(0, self.niceness - thread_niceness()))
            # a new thread starts at numba's full pool (NUMBA_NUM_THREADS): never ask for more
            numba.set_num_threads(min(self.threads, numba.get_num_threads()))
            metadata = work()
            return {
                **metadata,
                "niceness": thread_niceness(),
                "threads": numba.get_num_threads(),
            }

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="research") as pool:
            return pool.submit(bounded).result()
