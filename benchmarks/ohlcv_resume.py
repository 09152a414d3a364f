"""Benchmark: the live `raw/ohlcv` step on the day in progress, whole day against resumed.

The step of an evaluation run for ``--symbols`` sim symbols (1m and 1h candles) late in a
day (22:30 by default, about 1,350 candles per series): a first run stores the day, then
``--bars`` runs each one 1m bar later (one new candle per 1m series plus the refetched
ones), as the live loop runs it every bar. Each run is timed as STEP_START -> STEP_SUCCESS
(what the evaluation waits for) and as the wall and CPU seconds of the whole `materialize`
call, with the load average before it.

``--fresh``: every run in a new Python process, as a Dagster run under the default run
launcher (imports, such as Great Expectations' when the suite runs, are then paid inside the
run: its wall and CPU are the child process's). Default: all runs in this process (imports
paid once, before the first run).

To compare with the code before the resume, run this file from an export of that code
(``git archive <commit> | tar -x -C DIR``, then ``cp`` this file into ``DIR/benchmarks``):
the script imports the tree it is in.

    .venv/bin/python benchmarks/ohlcv_resume.py [--symbols 10] [--bars 5] [--at 22:30]
        [--fresh] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path

from pool_steps import step_seconds

ROOT = Path(__file__).resolve().parents[1]
BASES = "BTC ETH SOL XRP ADA DOGE AVAX DOT LINK LTC BNB TRX MATIC ATOM NEAR UNI XLM ETC FIL APT"
DAY = datetime(2026, 11, 30)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def step(home: Path, symbols: int, at: datetime) -> dict:
    """One raw/ohlcv run of every symbol's partition of ``DAY`` at the market instant ``at``."""
    sys.path.insert(0, str(ROOT))
    os.environ["TRADING_HOME"] = str(home)
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from assets.ingest.prices import build_ohlcv_asset
    from trading_core.config import MarketConfig
    from trading_pipelines.partitions import market_partitions
    from trading_pipelines.resources.market import MarketDataResource

    warnings.filterwarnings("ignore")
    names = [f"{base}/USDT" for base in BASES.split()[:symbols]]
    cfg = MarketConfig(symbols=names, timeframes=["1m", "1h"], as_of=at)
    market = MarketDataResource.from_config(cfg)
    keys = [f"{DAY.date()}|{name.replace('/', '-')}" for name in names]
    tags = {
        "dagster/asset_partition_range_start": keys[0],
        "dagster/asset_partition_range_end": keys[-1],
    }
    instance = dg.DagsterInstance.ephemeral()
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    result = dg.materialize(
        [build_ohlcv_asset(market_partitions(cfg))],
        resources={"market": market, "warehouse": DuckDBResource(database=str(home / "wh.db"))},
        tags=tags,
        run_config=QUIET,
        instance=instance,
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    return {
        "at": at.isoformat(),
        "step_s": round(step_seconds(instance, result.run_id), 3),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "load": round(load, 2),
        "resumed": meta["resumed_partitions"].value if "resumed_partitions" in meta else None,
        "rows": meta["rows"].value,
    }


def fresh_step(home: Path, symbols: int, at: datetime) -> dict:
    """``step`` in a new process; wall and CPU are the child's (imports included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(home), "--symbols", str(symbols),
         "--at-iso", at.isoformat()],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**found, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--bars", type=int, default=5, help="runs after the first, 1m apart")
    parser.add_argument("--at", default="22:30", help="HH:MM of the first run's market time")
    parser.add_argument("--fresh", action="store_true", help="every run in a new process")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--at-iso", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.symbols <= len(BASES.split()):
        parser.error(f"--symbols: 1..{len(BASES.split())}")
    if args.bars < 1:
        parser.error("--bars: at least 1")
    if args.child:
        print(json.dumps(step(Path(args.child), args.symbols, datetime.fromisoformat(args.at_iso))))
        return 0
    try:
        hour, minute = (int(part) for part in args.at.split(":"))
        first = DAY.replace(hour=hour, minute=minute, second=2)
    except ValueError:
        parser.error(f"--at: HH:MM within a day, got {args.at!r}")
    run = fresh_step if args.fresh else step
    with tempfile.TemporaryDirectory(prefix="ohlcv_resume_") as tmp:
        home = Path(tmp)
        runs = [run(home, args.symbols, first + timedelta(minutes=i)) for i in range(args.bars + 1)]
    later = runs[1:]
    summary = {
        "symbols": args.symbols, "fresh": args.fresh, "first": runs[0],
        "later_median": {
            k: round(statistics.median(r[k] for r in later), 3)
            for k in ("step_s", "wall_s", "cpu_s", "load")
        },
        "later": later,
    }  # fmt: skip
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{'at':20} {'step s':>7} {'wall s':>7} {'cpu s':>7} {'load':>5} resumed rows")
        for r in runs:
            print(
                f"{r['at']:20} {r['step_s']:7.2f} {r['wall_s']:7.2f} {r['cpu_s']:7.2f} "
                f"{r['load']:5.2f} {r['resumed']!s:>7} {r['rows']}"
            )
        print("later runs, median:", summary["later_median"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
