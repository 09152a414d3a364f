"""Benchmark: a year of one symbol backfilled into raw/ohlcv as ONE Dagster run.

Replay of ../shared/data/market/binance_BTCUSDT_1h.csv for 2022 (365 daily partitions,
8,760 hourly candles) through the real asset: fetch, one Great Expectations suite for the
run's partitions, quarantine split and spike hold, one warehouse transaction. Reports wall
time, candles/s and peak RSS; then re-materializes one day and checks the rows are
identical (idempotence).

    .venv/bin/python benchmarks/backfill_year.py [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data" / "market").resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import dagster as dg
    import duckdb
    from dagster_duckdb import DuckDBResource

    from assets.ingest.prices import build_ohlcv_asset
    from trading_core.config import MarketConfig
    from trading_pipelines.partitions import market_partitions
    from trading_pipelines.resources.market import MarketDataResource

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    cfg = MarketConfig(
        source="replay", exchanges=["binance"], symbols=["BTC/USDT"], timeframes=["1h"],
        replay_dir=DATA, start_date=date(2022, 1, 1),
    )  # fmt: skip
    market = MarketDataResource.from_config(cfg)
    asset = build_ohlcv_asset(market_partitions(cfg))
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "warehouse.duckdb"
        resources = {"market": market, "warehouse": DuckDBResource(database=str(database))}

        def run(first: str, last: str) -> float:
            began = time.perf_counter()
            result = dg.materialize(
                [asset],
                resources=resources,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                tags={
                    "dagster/asset_partition_range_start": f"{first}|BTC-USDT",
                    "dagster/asset_partition_range_end": f"{last}|BTC-USDT",
                },
            )
            assert result.success
            return time.perf_counter() - began

        seconds = run("2022-01-01", "2022-12-31")
        with duckdb.connect(str(database), read_only=True) as conn:
            candles = conn.execute("select count(*) from raw.ohlcv").fetchall()[0][0]
            before = conn.execute(
                "select * exclude (ingested_at) from raw.ohlcv where ts < '2022-06-02' "
                "and ts >= '2022-06-01' order by ts"
            ).df()
        run("2022-06-01", "2022-06-01")
        with duckdb.connect(str(database), read_only=True) as conn:
            after = conn.execute(
                "select * exclude (ingested_at) from raw.ohlcv where ts < '2022-06-02' "
                "and ts >= '2022-06-01' order by ts"
            ).df()
    results = {
        "partitions": 365,
        "candles": int(candles),
        "seconds": round(seconds, 2),
        "candles_per_second": round(candles / seconds),
        "seconds_per_partition": round(seconds / 365, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rematerialized_day_identical": bool(before.equals(after)),
    }
    if args.json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key:>30}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
