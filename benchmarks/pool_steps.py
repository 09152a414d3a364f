"""Benchmark: how long each writer step holds the live warehouse's pool, and what a research
run costs the live path's CPU.

Pools are held per step and cannot be interrupted, so the longest step on the live file is
the longest a live evaluation can wait for it. Each step runs in a fresh Python process, as
a Dagster run does under the default run launcher (imports such as Great Expectations are
paid inside the step, as in every run of a backfill), on a real Dagster instance; the time
is STEP_START -> STEP_SUCCESS from the instance's event log.

  ohlcv     raw/ohlcv, one backfill run of N partitions (replay BTCUSDT 1h, 2022)
  books     raw/order_book_snapshots, one backfill run of N partitions (sim)
  snapshot  research/candles on a year of 1m candles of 10 symbols (5.26 M candles)
  report    reports/daily_report of a day, with a year of hourly equity

Then the CPU cost: a fixed single-threaded workload standing in for the live evaluation is
timed alone and next to a process sweeping 2,400 MACD scenarios in a loop, once with the
research limits (nice 10, 1 thread: ``ResearchWarehouse.run``) and once without (nice 0,
numba's default threads).

N is each asset's ``max_partitions_per_run`` (its backfill policy) unless given.

    .venv/bin/python benchmarks/pool_steps.py [--partitions N] [--rounds R] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data" / "market").resolve()
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def step_seconds(instance, run_id: str) -> float:
    import dagster as dg

    times = {
        entry.dagster_event.event_type_value: entry.timestamp
        for entry in instance.all_logs(run_id)
        if entry.dagster_event is not None
        and entry.dagster_event.event_type
        in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)
    }
    return times["STEP_SUCCESS"] - times["STEP_START"]


def range_tags(first: str, last: str, symbol: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": f"{first}|{symbol}",
        "dagster/asset_partition_range_end": f"{last}|{symbol}",
    }


def measure_ingest(kind: str, partitions: int | None, home: Path, instance) -> dict:
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from assets.ingest.order_books import build_order_book_asset
    from assets.ingest.prices import build_ohlcv_asset
    from trading_core.config import MarketConfig
    from trading_pipelines.partitions import market_partitions
    from trading_pipelines.resources.market import MarketDataResource

    if kind == "ohlcv":
        cfg = MarketConfig(
            source="replay", exchanges=["binance"], symbols=["BTC/USDT"], timeframes=["1h"],
            replay_dir=DATA, start_date=date(2022, 1, 1),
        )  # fmt: skip
        asset, symbol = build_ohlcv_asset(market_partitions(cfg)), "BTC-USDT"
    else:
        cfg = MarketConfig(
            source="sim", exchanges=["sim"], symbols=["BTC/USDT"], timeframes=["1m", "1h"],
            start_date=date(2026, 1, 1),
        )  # fmt: skip
        asset, symbol = build_order_book_asset(market_partitions(cfg)), "BTC-USDT"
    partitions = partitions or asset.backfill_policy.max_partitions_per_run
    days = cfg.start_date.toordinal()
    first, last = (date.fromordinal(days).isoformat(), date.fromordinal(days + partitions - 1))
    result = dg.materialize(
        [asset],
        resources={
            "market": MarketDataResource.from_config(cfg),
            "warehouse": DuckDBResource(database=str(home / "warehouse.duckdb")),
        },
        instance=instance,
        run_config=QUIET,
        tags=range_tags(first, last.isoformat(), symbol),
    )
    return {"partitions": partitions, "seconds": step_seconds(instance, result.run_id)}


def seed_year_of_1m(database: Path, symbols: int) -> int:
    import duckdb

    from trading_core.warehouse import ensure_schema

    with duckdb.connect(str(database)) as conn:
        ensure_schema(conn)
        conn.execute(
            """insert into raw.ohlcv
               select 'sim', 'S' || (i % ?)::varchar || '/USDT', '1m',
                      timestamp '2025-01-01' + to_minutes((i // ?)::bigint),
                      100 + i % 7, 101 + i % 7, 99 + i % 7, 100.5 + i % 7, 1.0, 'sim',
                      timestamp '2026-01-01'
               from range(?) t(i)""",
            [symbols, symbols, symbols * 365 * 1440],
        )
        return conn.execute("select count(*) from raw.ohlcv").fetchall()[0][0]


def measure_snapshot(home: Path, instance) -> dict:
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from assets.dbt_models import dbt_models
    from assets.research import build_research_assets
    from trading_core.config import Paths
    from trading_pipelines.dbt import dbt_resource
    from trading_pipelines.resources.research import CANDLES_KEY, ResearchWarehouse

    root = Paths(home)
    candles = seed_year_of_1m(root.warehouse, symbols=10)
    assert dg.materialize(
        [dbt_models], resources={"dbt": dbt_resource(home)}, run_config=QUIET,
        selection=dg.AssetSelection.assets("stg_ohlcv"),
    ).success  # fmt: skip
    (asset,) = [a for a in build_research_assets(root.reports) if CANDLES_KEY in a.keys]
    result = dg.materialize(
        [asset],
        resources={
            "warehouse": DuckDBResource(database=str(root.warehouse)),
            "research_warehouse": ResearchWarehouse.under(root),
        },
        instance=instance,
        run_config=QUIET,
    )
    return {"candles": candles, "seconds": step_seconds(instance, result.run_id)}


def measure_report(home: Path, instance) -> dict:
    import dagster as dg
    import duckdb
    from dagster_duckdb import DuckDBResource

    from assets.reports import build_daily_report_asset

    with duckdb.connect(str(home / "warehouse.duckdb")) as conn:
        conn.execute("create schema journals")
        conn.execute(
            "create table journals.fct_equity_curve as select 'paper' as mode, "
            "timestamp '2025-01-01' + to_hours(i) as as_of, 500 + i % 50 as equity "
            "from range(8760) t(i)"
        )
        conn.execute(
            "create table journals.fct_daily_pnl as select 'paper' as mode, "
            "date '2025-06-01' as day, 1.5 as pnl, 501.5 as equity"
        )
        conn.execute(
            "create table journals.fct_trade_journal as select i as sequence, "
            "timestamp '2025-06-01' + to_minutes(i * 30) as event_time, 'paper' as mode, "
            "'macd' as strategy, 'BTC/USDT' as symbol, 'buy' as side, 0.001 as quantity, "
            "60000.0 as price, 0.06 as fee, 'USDT' as fee_currency, 0.06 as fee_quote, "
            "0.0 as realized_pnl_gross, -0.06 as realized_pnl_net, 'open' as role, "
            "1.0 as slippage_bps from range(48) t(i)"
        )
        conn.execute(
            "create table journals.fct_positions as select 'paper' as mode, 'sim' as exchange, "
            "'BTC/USDT' as symbol, 0.001 as quantity, 60000.0 as average_cost, "
            "60100.0 as mark_price, 0.1 as unrealized_pnl"
        )
    days = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2026-01-01")
    result = dg.materialize(
        [build_daily_report_asset(days, home / "reports")],
        resources={"warehouse": DuckDBResource(database=str(home / "warehouse.duckdb"))},
        instance=instance,
        run_config=QUIET,
        partition_key="2025-06-01",
    )
    return {"seconds": step_seconds(instance, result.run_id)}


def child(step: str, partitions: int | None) -> dict:
    import dagster as dg

    from trading_pipelines.instance import instance_settings

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        with dg.instance_for_test(overrides=instance_settings({})) as instance:
            if step in ("ohlcv", "books"):
                return measure_ingest(step, partitions, home, instance)
            if step == "snapshot":
                return measure_snapshot(home, instance)
            return measure_report(home, instance)


def live_standin(rounds: int) -> list[float]:
    """Seconds per round of a fixed single-threaded workload (ten backtests of 67,200 bars)."""
    from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
    from trading_core.strategies import get_strategy

    bars = read_ohlcv_csv(DATA / "binance_XRPUSDT_1h.csv")
    strategy = get_strategy("macd", {"fast": 12, "slow": 26, "signal": 9})
    run_backtest(bars, strategy, BacktestConfig())
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(10):
            run_backtest(bars, strategy, BacktestConfig())
        times.append(time.perf_counter() - began)
    return times


def research_loop(limited: bool) -> None:
    """Sweep 2,400 MACD scenarios on XRPUSDT 1h until killed."""
    from trading_core.backtest import BacktestConfig, read_ohlcv_csv
    from trading_core.backtest.sweep import macd_grid, sweep_strategy
    from trading_pipelines.resources.research import ResearchWarehouse

    bars = read_ohlcv_csv(DATA / "binance_XRPUSDT_1h.csv")
    grid = macd_grid()

    def forever() -> dict:
        while True:
            sweep_strategy(bars, "macd", grid, BacktestConfig())

    if limited:  # the research assets' limits: their defaults (nice 10, one thread)
        ResearchWarehouse(database="unused.duckdb", snapshot="unused.parquet").run(forever)
    else:
        forever()


def cpu_contention(rounds: int) -> dict:
    alone = live_standin(rounds)
    results = {"alone_s": statistics.median(alone)}
    for name, limited in (
        ("next_to_limited_research_s", True),
        ("next_to_unlimited_research_s", False),
    ):
        research = subprocess.Popen([sys.executable, __file__, "--research", str(int(limited))])
        try:
            time.sleep(5)  # numba cache load and the first sweep
            results[name] = statistics.median(live_standin(rounds))
        finally:
            research.kill()
            research.wait()
    return {key: round(value, 3) for key, value in results.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--partitions", type=int, help="partitions per backfill run")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of the live stand-in")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--research", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.step:
        print(json.dumps(child(args.step, args.partitions)))
        return 0
    if args.research is not None:
        research_loop(bool(args.research))
        return 0
    steps = {}
    chunk = ["--partitions", str(args.partitions)] if args.partitions else []
    for step in ("ohlcv", "books", "snapshot", "report"):
        out = subprocess.run(
            [sys.executable, __file__, "--step", step, *chunk],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        measured = json.loads(out.stdout.strip().splitlines()[-1])
        steps[step] = {
            key: round(v, 2) if isinstance(v, float) else v for key, v in measured.items()
        }
    results = {"pool_steps": steps, "cpu": cpu_contention(args.rounds)}
    if args.json:
        print(json.dumps(results))
    else:
        for step, measured in steps.items():
            print(f"{step:>10}  " + "  ".join(f"{k}={v}" for k, v in measured.items()))
        for key, value in results["cpu"].items():
            print(f"{key:>30}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
