"""Cockpit latency with a big ledger: every page and /api/v1 call, p50/p95/max.

10,000 trades (filled orders, with their intents) and 50,000 fills in a SQLite ledger: the
first ``--seed-trades`` are written through the real ledger API
(``tests.cockpit.ledger_data.populate``: five fills per order), then copied with SQL (new
ids, client order ids, trade ids and intent ids, times shifted by the seed's span) until the
ledger holds ``--trades``: the ledger API costs ~130 ms a trade on a loaded 2-core machine,
which would make the set-up take 20 minutes. A warehouse snapshot is built from
../shared/data/market. Then the cockpit runs as in production (``python -m
trading_pipelines.cockpit``, uvicorn) and each URL is requested once (``first``: cold
caches, e.g. the equity curve built over every fill) and then ``--repeats`` times over one
keep-alive connection (p50/p95/max). Target (issue 16): p95 <= 200 ms for every call.

    .venv/bin/python benchmarks/cockpit.py [--trades 10000] [--fills-per-trade 5] [--repeats 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from executor.ledger import Ledger  # noqa: E402
from tests.cockpit.ledger_data import populate  # noqa: E402
from tests.cockpit.signal_data import build_warehouse  # noqa: E402
from trading_pipelines.cockpit.snapshot import snapshot_path, write_snapshot  # noqa: E402

TOKEN = "benchmark-token-4b9e1f"
TARGET_MS = 200.0
GETS = [
    "/", "/instances", "/positions", "/trades", "/signals", "/actions",
    "/api/v1/status", "/api/v1/instances", "/api/v1/positions", "/api/v1/trades",
    "/api/v1/trades?limit=1000", "/api/v1/fills", "/api/v1/fills?limit=1000",
    "/api/v1/fills?limit=100&before_id=25000", "/api/v1/equity", "/api/v1/signals?history=5",
    "/api/v1/alerts", "/api/v1/commands",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def replicate(ledger: Ledger, seed_trades: int, trades: int) -> None:
    """Copy the seed's intents, orders and fills until there are ``trades`` orders."""
    copies = -(-trades // seed_trades) - 1
    with ledger.engine.begin() as conn:
        span = conn.exec_driver_sql(
            "select (julianday(max(event_time)) - julianday(min(event_time))) * 86400 + 60 "
            "from fills"
        ).scalar_one()
        for n in range(1, copies + 1):
            shift = f"'+{int(span * n)} seconds'"
            keep = trades - n * seed_trades  # the last copy may be partial
            conn.exec_driver_sql(
                "insert into intents (intent_id, strategy, exchange, symbol, timeframe, "
                "bar_ts, decided_at, side, action, order_type, notional, quantity, "
                "limit_price, reference_price, stop_loss, take_profit, trailing_stop_pct, "
                "post_only, reasons, status, status_reason, created_at, updated_at) "
                f"select intent_id || '-c{n}', strategy, exchange, symbol, timeframe, "
                f"datetime(bar_ts, {shift}), datetime(decided_at, {shift}), side, action, "
                "order_type, notional, quantity, limit_price, reference_price, stop_loss, "
                "take_profit, trailing_stop_pct, post_only, reasons, status, status_reason, "
                f"created_at, updated_at from intents where intent_id not like '%-c%' "
                f"order by id limit {keep}"
            )
            conn.exec_driver_sql(
                "insert into orders (client_order_id, exchange_order_id, intent_id, strategy, "
                "exchange, symbol, side, order_type, role, attempt, post_only, quantity, "
                "price, stop_price, state, filled_quantity, average_price, fee, fee_currency, "
                "reason, mode, submitted_at, lookups, created_at, updated_at) "
                f"select client_order_id || '-c{n}', exchange_order_id || '-c{n}', "
                f"intent_id || '-c{n}', strategy, exchange, symbol, side, order_type, role, "
                "attempt, post_only, quantity, price, stop_price, state, filled_quantity, "
                "average_price, fee, fee_currency, reason, mode, submitted_at, lookups, "
                f"datetime(created_at, {shift}), datetime(updated_at, {shift}) from orders "
                f"where client_order_id not like '%-c%' order by id limit {keep}"
            )
            conn.exec_driver_sql(
                "insert into fills (exchange, trade_id, client_order_id, exchange_order_id, "
                "intent_id, strategy, symbol, side, quantity, price, fee, fee_currency, "
                "liquidity, event_time, recorded_at, mode, applied) "
                f"select f.exchange, f.trade_id || '-c{n}', f.client_order_id || '-c{n}', "
                f"f.exchange_order_id, f.intent_id, f.strategy, f.symbol, f.side, f.quantity, "
                f"f.price, f.fee, f.fee_currency, f.liquidity, datetime(f.event_time, {shift}), "
                "f.recorded_at, f.mode, f.applied from fills f join ("
                "select client_order_id from orders where client_order_id not like '%-c%' "
                f"order by id limit {keep}) o using (client_order_id) order by f.id"
            )


def build_home(home: Path, trades: int, fills_per_trade: int, seed_trades: int) -> float:
    started = time.perf_counter()
    ledger = Ledger(f"sqlite:///{home / 'ledger.sqlite'}")
    populate(ledger, min(seed_trades, trades), fills_per_trade)
    if trades > seed_trades:
        replicate(ledger, seed_trades, trades)
    assert ledger.fill_count() == trades * fills_per_trade, ledger.fill_count()
    with ledger.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from orders").scalar_one() == trades
    ledger.close()
    warehouse = home / "bench_warehouse.duckdb"
    build_warehouse(warehouse, REPO.parent / "shared" / "data" / "market")
    with duckdb.connect(str(warehouse)) as conn:
        write_snapshot(conn, snapshot_path(home))
    alerts = [
        json.dumps(
            {
                "at": f"2026-12-01T{h % 24:02d}:00:00",
                "severity": "warning",
                "title": f"alert {h}",
                "message": "x" * 80,
            }
        )
        for h in range(5000)
    ]
    (home / "alerts.jsonl").write_text("\n".join(alerts) + "\n")
    (home / "trading.yaml").write_text(
        "cockpit:\n  rate_limit_per_second: 100000\n  rate_limit_burst: 1000000\n"
    )
    return time.perf_counter() - started


def measure(url: str, repeats: int) -> dict[str, object]:
    rows: dict[str, object] = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        for path in GETS:
            times = []
            for _ in range(repeats + 1):
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1e3)
                assert response.status_code == 200, (path, response.text[:200])
            rows[path] = {"first_ms": times[0], **summary(times[1:])}
        times = []
        for i in range(repeats):
            started = time.perf_counter()
            response = client.post(
                "/api/v1/control/pause" if i % 2 else "/api/v1/control/resume",
                json={"reason": "benchmark"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            times.append((time.perf_counter() - started) * 1e3)
            assert response.status_code == 202, response.text
        rows["POST /api/v1/control/{pause,resume}"] = {"first_ms": times[0], **summary(times)}
    return rows


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[max(0, round(0.95 * len(ordered)) - 1)],
        "max_ms": ordered[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--fills-per-trade", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--seed-trades", type=int, default=500)
    args = parser.parse_args()
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    home = Path(tempfile.mkdtemp(prefix="cockpit-bench-", dir=base))
    try:
        built = build_home(home, args.trades, args.fills_per_trade, args.seed_trades)
        print(f"ledger: {args.trades} trades, {args.trades * args.fills_per_trade} fills "
              f"(built in {built:.1f} s, in {home})")  # fmt: skip
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
        env.update(TRADING_HOME=str(home), TRADING_COCKPIT_TOKEN=TOKEN)
        server = subprocess.Popen(
            [sys.executable, "-m", "trading_pipelines.cockpit", "--port", str(port)],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                try:
                    httpx.get(f"{url}/static/cockpit.js", timeout=2)
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            server.stderr.read().decode() if server.stderr else ""
                        ) from None
                    time.sleep(0.3)
            rows = measure(url, args.repeats)
        finally:
            server.terminate()
            server.wait(timeout=20)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    worst = 0.0
    print("\n| call | first ms | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|---:|")
    for path, row in rows.items():
        worst = max(worst, row["p95_ms"])
        print(
            f"| `{path}` | {row['first_ms']:.1f} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} "
            f"| {row['max_ms']:.1f} |"
        )
    verdict = "met" if worst <= TARGET_MS else "MISSED"
    print(f"\nworst p95: {worst:.1f} ms (target <= {TARGET_MS:.0f} ms): {verdict}")
    return 0 if worst <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
