"""Executor benchmark: intent-to-submit latency (p50/p99) and intents per second.

Paper broker against the seeded sim market, SQLite ledger (WAL, synchronous=FULL) in a
temporary directory, no publishing. Two measurements:

- latency: one intent at a time, written to the ledger, then one engine tick; the latency is
  from the intent's commit to the moment the broker receives the order (risk gate, sizing,
  order row, all ledger reads on the way). Alternating opens and closes on three symbols.
- throughput: ``--batch`` intents written at once, ticks until all are handled; intents per
  second over the whole batch (each intent: risk gate, order, submit, fill, position).

Usage::

    .venv/bin/python benchmarks/executor_latency.py [--intents 2000] [--batch 5000]
        [--ledger-url URL] [--json benchmarks/out/executor_latency.json]

Numbers depend on the disk (fsync per commit) and on what else runs on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from executor.brokers.paper import PaperBroker
from executor.engine import Engine, EngineOptions
from executor.intents import OrderIntent, make_intent_id
from executor.lease import Lease
from executor.ledger import Ledger
from trading_core.config import TradingConfig
from trading_core.market.sim import SimMarket

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
CONFIG = TradingConfig.model_validate(
    {
        "executor": {
            "starting_cash": 1_000_000.0,
            "exchange": "sim",
            # Throughput of the executor itself: historical decision times and no exchange
            # rate limit (the order-rate throttle and entry expiry have their own tests).
            "max_intent_age_seconds": 1e9,
            "max_orders_per_second": 1000,
            "max_orders_per_minute": 60_000,
        },
        "risk": {
            "max_trades_per_day": 10_000_000,
            "max_notional": 10_000.0,
            "position_fraction": 1.0,
            "max_drawdown_pct": 0.99,
        },
    }
)

# --protocol: the same executor with the risk protocol deciding every entry (issue 12: the
# latency may grow by at most 50 %): one strategy instance per symbol under capital tiers,
# the drawdown protocol and allocation limits, fixed-fraction sizing with a percent stop.
PROTOCOL_CONFIG = TradingConfig.model_validate(
    {
        **CONFIG.model_dump(mode="json", include={"executor", "risk"}),
        "strategies": [
            {
                "id": f"bench-{symbol.split('/')[0].lower()}", "strategy": "macd",
                "symbols": [symbol], "timeframe": "1m", "allocation": 0.3,
                "risk_profile": "high",
                "risk": {"sizing": "fixed_fraction", "position_fraction": 0.01,
                         "stop": "percent", "stop_loss_pct": 0.05},
            }
            for symbol in SYMBOLS
        ],
        "protocol": {
            "tiers": [{"floor": 0, "risk_per_trade": 0.02, "max_position": 1.0,
                       "max_positions": 10}],
            "allocation": {"assets": {}},
            # the bench's round trips lose the spread: a streak would demote the instances
            "streaks": {"enabled": False},
        },
    }
)  # fmt: skip
_ACTIVE: dict[str, Any] = {"config": CONFIG, "stops": False}


def bench_intent(n: int, start: datetime, strategy: str) -> OrderIntent:
    """Intent ``n``: an open, or a close when ``n`` is odd, on a rotating symbol. The two
    measurements use different strategy names, so they never share intent ids."""
    symbol = SYMBOLS[(n // 2) % len(SYMBOLS)]
    action = "close" if n % 2 else "open"
    bar = start + timedelta(minutes=n)
    instance = None
    if _ACTIVE["config"] is PROTOCOL_CONFIG:
        instance = f"bench-{symbol.split('/')[0].lower()}"
    return OrderIntent(
        intent_id=make_intent_id(strategy, "sim", symbol, "1m", bar, action, instance=instance),
        instance=instance,
        strategy=strategy,
        exchange="sim",
        symbol=symbol,
        timeframe="1m",
        bar_ts=bar,
        decided_at=bar + timedelta(minutes=1),
        side="sell" if n % 2 else "buy",
        action=action,
        notional=None if n % 2 else 100.0,
        # --stops: entries carry the 5 % stop the protocol's instances set (so the
        # exchange-side backstop order is placed and cancelled in both measurements)
        stop_loss_pct=0.05 if _ACTIVE["stops"] and not n % 2 else None,
    )


class TimedBroker(PaperBroker):
    """Records when each order reaches the broker."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.received: dict[str | None, float] = {}

    def submit(self, order, at=None):  # type: ignore[no-untyped-def]
        self.received[order.intent_id] = time.perf_counter()
        return super().submit(order, at)


def build(url: str) -> tuple[Ledger, TimedBroker, Engine]:
    market = SimMarket(seed=7)
    ledger = Ledger(url)
    config = _ACTIVE["config"]
    broker = TimedBroker(market, exchange="sim", fees=config.fees)
    lease = Lease(ledger.engine, mode="paper")  # fencing checks included, as in production
    lease.acquire()
    engine = Engine(
        ledger, broker, market, config, EngineOptions(intents_per_tick=500), lease=lease
    )
    engine.start()
    return ledger, broker, engine


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_latency(url: str, count: int) -> dict[str, float]:
    ledger, broker, engine = build(url)
    start = datetime(2025, 1, 1)
    latencies = []
    for n in range(count):
        intent = bench_intent(n, start, "bench-latency")
        ledger.add_intents([intent])
        committed = time.perf_counter()
        engine.tick()
        latencies.append((broker.received[intent.intent_id] - committed) * 1000)
    assert engine.lease is not None
    engine.lease.release()  # the next measurement may use the same ledger
    ledger.close()
    return {
        "intents": count,
        "p50_ms": round(percentile(latencies, 0.50), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "mean_ms": round(statistics.fmean(latencies), 3),
        "max_ms": round(max(latencies), 3),
    }


def measure_throughput(url: str, count: int) -> dict[str, float]:
    ledger, _broker, engine = build(url)
    start = datetime(2025, 1, 1)
    intents = [bench_intent(n, start, "bench-throughput") for n in range(count)]
    began = time.perf_counter()
    ledger.add_intents(intents)
    while ledger.new_intents(1):
        engine.tick()
    elapsed = time.perf_counter() - began
    fills = ledger.fill_count()
    assert engine.lease is not None
    engine.lease.release()  # the next measurement may use the same ledger
    ledger.close()
    return {
        "intents": count,
        "seconds": round(elapsed, 2),
        "intents_per_second": round(count / elapsed, 1),
        "fills": fills,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--intents", type=int, default=2000, help="latency samples")
    parser.add_argument("--batch", type=int, default=5000, help="throughput batch size")
    parser.add_argument("--ledger-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument(
        "--protocol", action="store_true", help="with the risk protocol deciding every entry"
    )
    parser.add_argument(
        "--stops", action="store_true", help="entries carry a 5 %% stop (the --protocol baseline)"
    )
    args = parser.parse_args(argv)
    _ACTIVE["config"] = PROTOCOL_CONFIG if args.protocol else CONFIG
    _ACTIVE["stops"] = args.stops
    with tempfile.TemporaryDirectory() as tmp:

        def url(name: str) -> str:
            return args.ledger_url or f"sqlite:///{Path(tmp) / name}"

        results = {
            "ledger": "custom" if args.ledger_url else "sqlite (WAL, synchronous=FULL)",
            "protocol": args.protocol,
            "stops": args.stops,
            "latency": measure_latency(url("latency.sqlite"), args.intents),
            "throughput": measure_throughput(url("throughput.sqlite"), args.batch),
        }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
