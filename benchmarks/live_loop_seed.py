"""Seeding for ``live_loop.py``: history written straight into the warehouse, and a backfill
launched through the webserver while the loop is measured.

``seed_history``: the benchmark's market is the seeded sim, whose candles are a pure function
of (seed, series, time); writing ``days`` of them into ``raw.ohlcv`` directly (one DuckDB
insert per series) takes seconds where ingesting them through Dagster runs (one run per 20
partitions, each validated) took 555 s for 10 symbols x 90 days. Bootstrap then ingests the
last day through Dagster as usual (the UI shows those runs) and dbt builds the signal chain over
the whole history once. The candles are the same the ingest asset would write; only their
Great Expectations checks are skipped (the sim's candles are valid by construction).

``launch_backfill``: a backfill of ``raw/ohlcv`` over ``days`` days x every symbol, submitted
to the webserver's GraphQL endpoint as the UI's *Materialize* dialog does; the daemon runs it
in bounded runs of 20 partitions (``dagster/backfill``: one run at a time).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from pathlib import Path

import requests

BACKFILL_MUTATION = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}
"""


def seed_history(home: Path, env: dict[str, str], start: datetime, end: datetime) -> dict:
    """Every configured series' sim candles in [start, end) into ``home``'s warehouse."""
    import duckdb

    from trading_core.config import load_config
    from trading_core.market.factory import make_market_source
    from trading_core.warehouse import ensure_schema

    cfg = load_config(environ=env)
    source = make_market_source(cfg.market)
    began = time.monotonic()
    rows = 0
    home.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        ensure_schema(conn)
        for exchange in cfg.market.exchanges:
            for symbol in cfg.market.symbols:
                for timeframe in cfg.market.timeframes:
                    frame = source.fetch_ohlcv(exchange, symbol, timeframe, start, end, end)
                    frame["source"] = source.name
                    frame["ingested_at"] = end
                    conn.register("seed", frame)
                    conn.execute(
                        "insert into raw.ohlcv select exchange, symbol, timeframe, ts, open, "
                        "high, low, close, volume, source, ingested_at from seed"
                    )
                    conn.unregister("seed")
                    rows += len(frame)
    finally:
        conn.close()
    return {"rows": rows, "seconds": round(time.monotonic() - began, 1)}


def partition_keys(first: date, last: date, symbols: list[str]) -> list[str]:
    keys = []
    day = first
    while day <= last:
        keys += [f"{day.isoformat()}|{symbol.replace('/', '-')}" for symbol in symbols]
        day += timedelta(days=1)
    return keys


def wait_webserver(port: int, timeout: float = 300.0) -> None:
    """Until the webserver answers (it starts after the market clock is anchored)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError(f"the webserver on port {port} did not answer in {timeout:.0f} s")


def launch_backfill(port: int, first: date, last: date, symbols: list[str]) -> str:
    """Submit the backfill; returns its id (raises with the server's message otherwise)."""
    wait_webserver(port)
    params = {
        "partitionNames": partition_keys(first, last, symbols),
        "assetSelection": [{"path": ["raw", "ohlcv"]}],
        "fromFailure": False,
    }
    reply = requests.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": BACKFILL_MUTATION, "variables": {"params": params}},
        timeout=120,
    )
    reply.raise_for_status()
    result = reply.json()["data"]["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"backfill refused: {result}")
    return result["backfillId"]
