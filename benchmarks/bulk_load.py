"""Bulk load of every ../shared/data/market file of one timeframe (1h by default) through the
replay backend into a DuckDB ``raw.ohlcv``, timed separately for parsing and for the load.

    .venv/bin/python benchmarks/bulk_load.py [--data-dir DIR] [--timeframe 1h] [--repeat 5]

Parse = ``ReplayMarket`` reading and converting the files (a fresh instance per run, so no
cache helps): clean files take the columnar read (pyarrow). ``parse: one bad line`` is the
same files with one malformed line each (a cut number in a copy under a scratch directory),
which the line-by-line reader of ``trading_core.market.candle_file`` takes. Load =
``trading_core.warehouse``'s idempotent write path into a fresh database file per run, two
ways: one ``replace_slice`` (its own transaction) per series, as partition runs write; and
every series in one ``transaction`` with ``replace_rows``, as a single-run backfill writes.
``ingest write`` is what ``raw/ohlcv`` does with fetched candles before Great Expectations:
the quarantine split (``quarantine_ohlcv``), the spike hold (``hold_frame``) and
``write_partitions`` (sort, deletes, one insert per table) in one transaction.

Times are the median and the best of ``--repeat`` runs, wall and CPU (user + system of the
process, every thread: on a shared machine the CPU time says what the work costs, the wall
time what the machine gave it). Memory comes from separate runs: the ``tracemalloc`` peak
(Python and numpy allocations) and the growth of the peak RSS (``resource.getrusage``, which
also sees DuckDB and Arrow) in a forked child. ``--json`` prints the rows as JSON too.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
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

from trading_core.market.ingest_plan import PartitionBatch, empty_quarantine
from trading_core.market.ingest_write import write_partitions
from trading_core.market.replay import ReplayMarket
from trading_core.quality import quarantine_ohlcv
from trading_core.quality.spike_policy import SpikePolicy, hold_frame
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
    median_cpu_s: float
    traced_peak_mb: float
    rss_growth_mb: float

    @property
    def rate(self) -> float:
        """Candles per second of the median run (wall)."""
        return self.candles / self.median_s

    @property
    def best_rate(self) -> float:
        return self.candles / self.best_s

    @property
    def cpu_rate(self) -> float:
        """Candles per CPU second of the median run (every thread of the process)."""
        return self.candles / self.median_cpu_s

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "phase": self.phase, "candles": self.candles, "median_s": round(self.median_s, 4),
            "best_s": round(self.best_s, 4), "median_cpu_s": round(self.median_cpu_s, 4),
            "candles_per_s_median": round(self.rate), "candles_per_s_best": round(self.best_rate),
            "candles_per_cpu_s": round(self.cpu_rate),
            "traced_peak_mb": round(self.traced_peak_mb, 1),
            "rss_growth_mb": round(self.rss_growth_mb, 1),
        }  # fmt: skip


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


Timing = tuple[float, float]  # wall seconds, CPU seconds of the measured part


class _Clock:
    """Wall and process CPU time (user + system, every thread) from its creation."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), _cpu()

    def stop(self) -> Timing:
        return time.perf_counter() - self.wall, _cpu() - self.cpu


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_parse(data_dir: Path, timeframe: str) -> Timing:
    clock = _Clock()
    parse_all(data_dir, timeframe)
    return clock.stop()


def corrupted_copy(data_dir: Path, timeframe: str, scratch: Path) -> Path:
    """The timeframe's files with one malformed line each (a price cut to ``1.2.3`` in the
    middle of the file): every file then takes the line-by-line reader."""
    target = scratch / "corrupted"
    target.mkdir()
    source = ReplayMarket(data_dir)
    for series in source.available():
        if series.timeframe != timeframe:
            continue
        path = source._files[series]
        lines = path.read_text().split("\n")
        middle = len(lines) // 2
        stamp, _, rest = lines[middle].partition(",")
        lines[middle] = f"{stamp},1.2.3,{rest.partition(',')[2]}"
        (target / path.name).write_text("\n".join(lines))
    return target


def timed_load(db_path: Path, frames: list[pd.DataFrame], one_transaction: bool) -> Timing:
    """Seconds spent writing ``frames`` into a fresh ``db_path`` (opening the file and creating
    the schema are not timed); checks that every candle landed."""
    with duckdb.connect(str(db_path)) as conn:
        ensure_schema(conn)
        clock = _Clock()
        if one_transaction:
            with transaction(conn):
                loaded = sum(
                    replace_rows(conn, "raw.ohlcv", f, SERIES_WHERE, _series(f)) for f in frames
                )
        else:
            loaded = sum(
                replace_slice(conn, "raw.ohlcv", f, SERIES_WHERE, _series(f)) for f in frames
            )
        elapsed = clock.stop()
        (stored,) = conn.execute("SELECT count(*) FROM raw.ohlcv").fetchall()[0]
    if stored != loaded:
        raise AssertionError(f"loaded {loaded} candles but raw.ohlcv holds {stored}")
    return elapsed


def timed_ingest_write(db_path: Path, frames: list[pd.DataFrame]) -> Timing:
    """The raw/ohlcv write path of fetched candles, one partition per series: quarantine
    split and spike hold of the whole run at once, then ``write_partitions`` in one
    transaction; checks that every candle landed clean (real files: nothing quarantined)."""
    with duckdb.connect(str(db_path)) as conn:
        ensure_schema(conn)
        clock = _Clock()
        received = pd.concat(
            [f.assign(_partition=str(i)) for i, f in enumerate(frames)], ignore_index=True
        )
        clean, bad = quarantine_ohlcv(received)
        kept, held, _ = hold_frame(clean, SpikePolicy())
        batches = []
        for i, frame in enumerate(frames):
            mine = kept[kept["_partition"] == str(i)].drop(columns="_partition")
            batch = PartitionBatch(
                str(i), frame["symbol"].iloc[0], *EVERYTHING, frame, [], len(frame), [], [],
                clean=mine, quarantined=empty_quarantine(),
            )  # fmt: skip
            batches.append(batch)
        with transaction(conn):
            written = write_partitions(conn, batches)
        elapsed = clock.stop()
    if written.rows != len(received) or len(bad) or len(held):
        raise AssertionError(
            f"{len(received)} candles: {written.rows} stored, {len(bad)} quarantined, "
            f"{len(held)} held"
        )
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


def measure(phase: str, candles: int, run: Callable[[], Timing], repeat: int) -> Measure:
    """``run`` does the work once and returns the wall and CPU seconds of the part it
    measures."""
    times = []
    for _ in range(repeat):
        gc.collect()
        times.append(run())
    return Measure(
        phase,
        candles,
        min(t[0] for t in times),
        statistics.median(t[0] for t in times),
        statistics.median(t[1] for t in times),
        _traced_peak_mb(run),
        _rss_growth_mb(run),
    )


def main(argv: list[str] | None = None) -> list[Measure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--timeframe", default="1h")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = parser.parse_args(argv)

    frames = parse_all(args.data_dir, args.timeframe)
    if not frames:
        raise SystemExit(f"no {args.timeframe} candle files in {args.data_dir}")
    candles = sum(len(f) for f in frames)
    rows = as_raw_rows(frames)
    with tempfile.TemporaryDirectory() as scratch:
        runs = iter(range(10**6))
        corrupted = corrupted_copy(args.data_dir, args.timeframe, Path(scratch))

        def fresh_db() -> Path:
            return Path(scratch) / f"warehouse_{next(runs)}.duckdb"

        def loader(one_transaction: bool) -> Callable[[], Timing]:
            return lambda: timed_load(fresh_db(), rows, one_transaction)

        results = [
            measure(
                "parse: ReplayMarket", candles,
                lambda: timed_parse(args.data_dir, args.timeframe), args.repeat,
            ),
            measure(
                "parse: one bad line", candles - len(frames),
                lambda: timed_parse(corrupted, args.timeframe), args.repeat,
            ),
            measure("load: slice per series", candles, loader(False), args.repeat),
            measure("load: one transaction", candles, loader(True), args.repeat),
            measure(
                "ingest write", candles, lambda: timed_ingest_write(fresh_db(), rows), args.repeat
            ),
        ]  # fmt: skip
    print(
        f"{len(frames)} {args.timeframe} series, {candles:,} candles from {args.data_dir}; "
        f"{args.repeat} runs, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    header = ("phase", "median/s", "best/s", "per CPU-s", "median s", "best s", "CPU s", "RSS+ MB")
    print(f"{header[0]:<24}" + "".join(f"{h:>11}" for h in header[1:]))
    for r in results:
        print(
            f"{r.phase:<24}{r.rate:>11,.0f}{r.best_rate:>11,.0f}{r.cpu_rate:>11,.0f}"
            f"{r.median_s:>11.4f}{r.best_s:>11.4f}{r.median_cpu_s:>11.4f}{r.rss_growth_mb:>11.1f}"
        )
    if args.json:
        print(json.dumps([r.as_dict() for r in results]))
    return results


if __name__ == "__main__":
    main()
