"""Soak: 10,000 intents through the paper broker and the SQLite ledger, memory bounded."""

from __future__ import annotations

import gc
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from executor.brokers.paper import PaperBroker
from executor.engine import Engine, EngineOptions
from executor.intents import OrderIntent, make_intent_id
from executor.ledger import Ledger
from executor.orders import OrderState
from executor.publish import Publisher
from trading_core.config import TradingConfig
from trading_core.market.sim import SimMarket

INTENTS = 10_000
WARM_UP = 1_000
CHUNK = 250
MAX_RSS_GROWTH_MB = 40
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
START = datetime(2025, 1, 1)
CONFIG = TradingConfig.model_validate(
    {
        "executor": {
            "starting_cash": 100_000.0,
            "exchange": "sim",
            # Throughput of the executor itself: historical decision times and no exchange
            # rate limit (the order-rate throttle and entry expiry have their own tests).
            "max_intent_age_seconds": 1e9,
            "max_orders_per_second": 1000,
            "max_orders_per_minute": 60_000,
        },
        "risk": {
            "max_trades_per_day": 1_000_000,
            "max_notional": 1_000.0,
            "position_fraction": 1.0,
            "max_drawdown_pct": 0.99,
            "blacklist": ["SOL"],
        },
    }
)


def soak_intent(n: int) -> OrderIntent:
    """Opens and closes in turn on three symbols; every 10th open is a limit far below the
    market (rests, is repriced once, then given up); SOL is blacklisted (risk rejections)."""
    symbol = SYMBOLS[(n // 2) % len(SYMBOLS)]
    bar = START + timedelta(minutes=n)
    action = "close" if n % 2 else "open"
    limit = n % 20 == 0
    return OrderIntent(
        intent_id=make_intent_id("soak", "sim", symbol, "1m", bar, action),
        strategy="soak",
        exchange="sim",
        symbol=symbol,
        timeframe="1m",
        bar_ts=bar,
        decided_at=bar + timedelta(minutes=1),
        side="sell" if n % 2 else "buy",
        action=action,
        notional=None if n % 2 else 50.0,
        order_type="limit" if limit else "market",
        limit_price=1.0 if limit else None,
    )


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
def test_ten_thousand_intents_with_bounded_memory(tmp_path: Path) -> None:
    # The ledger on tmpfs when there is one: this measures memory, not the disk's fsync.
    shm = Path("/dev/shm")
    folder = Path(os.path.join(shm, f"soak-{os.getpid()}")) if shm.is_dir() else tmp_path
    folder.mkdir(exist_ok=True)
    market = SimMarket(seed=3)
    ledger = Ledger(f"sqlite:///{folder / 'ledger.sqlite'}")
    broker = PaperBroker(market, exchange="sim", fees=CONFIG.fees)
    publisher = Publisher(ledger, tmp_path / "lake", None)
    engine = Engine(
        ledger,
        broker,
        market,
        CONFIG,
        EngineOptions(intents_per_tick=CHUNK, limit_timeout_seconds=0, max_reprices=1),
        publisher=publisher,
    )
    engine.start()
    try:
        baseline = None
        for first in range(0, INTENTS, CHUNK):
            ledger.add_intents([soak_intent(n) for n in range(first, first + CHUNK)])
            engine.tick()
            if first + CHUNK == WARM_UP:
                gc.collect()
                baseline = rss_mb()
        while ledger.live_orders():
            engine.tick()
        gc.collect()
        growth = rss_mb() - baseline
        assert growth < MAX_RSS_GROWTH_MB, f"RSS grew {growth:.1f} MB after warm-up"

        counts = ledger.intent_counts()
        assert sum(counts.values()) == INTENTS
        assert set(counts) <= {"DONE", "REJECTED_BY_RISK"}
        assert counts["REJECTED_BY_RISK"] >= INTENTS // 3  # SOL is blacklisted
        fills = ledger.fills_since()
        filled = ledger.orders([OrderState.FILLED])
        assert len(filled) > INTENTS // 3
        assert sum(o.filled_quantity for o in filled) == pytest.approx(
            sum(f.quantity for f in fills)
        )
        assert len({f.trade_id for f in fills}) == len(fills)
        # Cash moved exactly by the fills.
        flows = sum((-1 if f.side == "buy" else 1) * f.quantity * f.price - f.fee for f in fills)
        assert ledger.cash("USDT") == pytest.approx(100_000.0 + flows)
        # Every position equals its fills, and everything opened was closed.
        for symbol in ("BTC/USDT", "ETH/USDT"):
            net = sum(
                (1 if f.side == "buy" else -1) * f.quantity for f in fills if f.symbol == symbol
            )
            assert net == pytest.approx(0.0, abs=1e-9)
        assert ledger.open_positions() == []
        publisher.publish()
        assert publisher.unreported_count() > 0  # no Dagster here; batches wait in the outbox
    finally:
        ledger.close()
        for name in os.listdir(folder):
            os.remove(folder / name)
        if folder != tmp_path:
            folder.rmdir()
