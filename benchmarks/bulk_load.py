"""Bulk load of every ../shared/data/market file of one timeframe (1h by default) through the
replay backend into a DuckDB ``raw.ohlcv``, timed separately for parsing and for the load.

    .venv/bin/python benchmarks/bulk_load.py [--data-dir DIR] [--timeframe 1h] [--repeat 5]

Parse = ``ReplayMarket`` reading and converting the files (a fresh instance per run, so no
cache helps). Load = ``trading_core.warehouse``'s idempotent write path into a fresh database
file per run, two ways: one ``replace_slice`` (its own transaction) per series, as partition
runs write; and every series in one ``transaction`` with ``replace_rows``, as a single-run
backfill writes. Times are the best and the median of ``--repeat`` runs. Memory comes from
separate runs: the ``tracemalloc`` peak (Python and numpy allocations) and the growth of the
peak RSS (``resource.getrusage``, which also sees DuckDB and Arrow) in a forked child.
Numbers on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import resource
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from trading_core.market.replay import ReplayMarket
from trading_core.warehouse import (
    ensure_schema,
    replace_rows,
    replace_slice,
    table_columns,
    transaction,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (REPO / ".." / "shared" / "data" / "market").resolve()
EVERYTHING = (datetime(1970, 1, 1), datetime(2100, 1, 1))


@dataclass(frozen=True)
class Measure:
    phase: str
    candles: int
    best_s: float
    median_s: float
    traced_peak_mb: float
    rss_growth_mb: float

    @property
    def rate(self) -> float:
        return self.candles / self.best_s


def parse_all(data_dir: Path, timeframe: str) -> list[pd.DataFrame]:
    source = ReplayMarket(data_dir)
    return [
        source.fetch_ohlcv(s.exchange, s.symbol, s.timeframe, *EVERYTHING)
        for s in source.available()
        if s.timeframe == timeframe
    ]


def as_raw_rows(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """The frames with the warehouse's bookkeeping columns, in ``raw.ohlcv`` column order."""
    ingested_at = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    columns = table_columns("raw.ohlcv")
    return [f.assign(source="replay", ingested_at=ingested_at)[columns] for f in frames]


SERIES_WHERE = "exchange = ? AND symbol = ? AND timeframe = ?"


def _series(frame: pd.DataFrame) -> list[str]:
    first = frame.iloc[0]
    return [first["exchange"], first["symbol"], first["timeframe"]]


def timed_parse(data_dir: Path, timeframe: str) -> float:
    started = time.perf_counter()
    parse_all(data_dir, timeframe)
    return time.perf_counter() - started


def timed_load(db_path: Path, frames: list[pd.DataFrame], one_transaction: bool) -> float:
    """Seconds spent writing ``frames`` into a fresh ``db_path`` (opening the file and creating
    the schema are not timed); checks that every candle landed."""
    with duckdb.connect(str(db_path)) as conn:
        ensure_schema(conn)
        started = time.perf_counter()
        if one_transaction:
            with transaction(conn):
                loaded = sum(
                    replace_rows(conn, "raw.ohlcv", f, SERIES_WHERE, _series(f)) for f in frames
                )
        else:
            loaded = sum(
                replace_slice(conn, "raw.ohlcv", f, SERIES_WHERE, _series(f)) for f in frames
            )
        elapsed = time.perf_counter() - started
        stored = conn.execute("SELECT count(*) FROM raw.ohlcv").fetchone()[0]
    if stored != loaded:
        raise AssertionError(f"loaded {loaded} candles but raw.ohlcv holds {stored}")
    return elapsed


def _current_rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def _rss_growth_mb(run: Callable[[], object]) -> float:
    """Peak RSS growth while ``run`` runs, in a forked child (a fork's peak starts at its
    current RSS, so the parent's history does not count)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def child() -> None:
        start = _current_rss_mb()
        run()
        send.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - start)

    process = context.Process(target=child)
    process.start()
    growth = receive.recv()
    process.join()
    return growth


def _traced_peak_mb(run: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def measure(phase: str, candles: int, run: Callable[[], float], repeat: int) -> Measure:
    """``run`` does the work once and returns the seconds of the part it measures."""
    times = []
    for _ in range(repeat):
        gc.collect()
        times.append(run())
    return Measure(
        phase,
        candles,
        min(times),
        statistics.median(times),
        _traced_peak_mb(run),
        _rss_growth_mb(run),
    )


def main(argv: list[str] | None = None) -> list[Measure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--timeframe", default="1h")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    frames = parse_all(args.data_dir, args.timeframe)
    if not frames:
        raise SystemExit(f"no {args.timeframe} candle files in {args.data_dir}")
    candles = sum(len(f) for f in frames)
    rows = as_raw_rows(frames)
    with tempfile.TemporaryDirectory() as scratch:
        runs = iter(range(10**6))

        def loader(one_transaction: bool) -> Callable[[], float]:
            def load() -> float:  # a fresh database file per run
                db = Path(scratch) / f"warehouse_{next(runs)}.duckdb"
                return timed_load(db, rows, one_transaction)

            return load

        def parse() -> float:
            return timed_parse(args.data_dir, args.timeframe)

        results = [
            measure("parse: ReplayMarket", candles, parse, args.repeat),
            measure("load: slice per series", candles, loader(False), args.repeat),
            measure("load: one transaction", candles, loader(True), args.repeat),
        ]
    print(f"{len(frames)} {args.timeframe} series, {candles:,} candles from {args.data_dir}")
    header = ("phase", "candles/s", "best s", "median s", "traced MB", "RSS+ MB")
    print(f"{header[0]:<24}" + "".join(f"{h:>11}" for h in header[1:]))
    for r in results:
        print(
            f"{r.phase:<24}{r.rate:>11,.0f}{r.best_s:>11.4f}{r.median_s:>11.4f}"
            f"{r.traced_peak_mb:>11.1f}{r.rss_growth_mb:>11.1f}"
        )
    return results


if __name__ == "__main__":
    main()
