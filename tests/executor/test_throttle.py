"""The order-rate throttle: entries wait (never rejected), exits never wait."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from executor.brokers.paper import PaperBroker
from executor.engine import Engine
from executor.ledger import Ledger
from executor.throttle import OrderThrottle
from tests.executor.helpers import Clock, StubMarket, make_intent
from trading_core.config import TradingConfig

T = datetime(2026, 1, 1)


def test_limits_per_second_and_per_minute() -> None:
    throttle = OrderThrottle(per_second=2, per_minute=3)
    assert throttle.ready(T)
    throttle.record(T)
    throttle.record(T + timedelta(milliseconds=100))
    assert not throttle.ready(T + timedelta(milliseconds=500))  # 2 in the last second
    assert throttle.ready(T + timedelta(seconds=1, milliseconds=50))
    throttle.record(T + timedelta(seconds=2))
    assert not throttle.ready(T + timedelta(seconds=30))  # 3 in the last minute
    assert throttle.ready(T + timedelta(seconds=61))


@pytest.mark.parametrize("bad", [(0, 10), (5, 0), (-1, -1)])
def test_nonsense_limits_are_refused(bad: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="order rate limits"):
        OrderThrottle(*bad)


def test_entries_beyond_the_rate_wait_for_the_next_tick_and_exits_do_not(
    sqlite_url: str,
) -> None:
    clock = Clock()
    config = TradingConfig.model_validate(
        {
            "market": {"symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDT"]},
            "executor": {"starting_cash": 10_000.0, "max_orders_per_second": 1},
            "risk": {"position_fraction": 0.5, "max_open_positions": 3},
        }
    )
    market = StubMarket(clock)
    for symbol in ("BTC/USDT", "ETH/USDT", "SOL/USDT"):
        market.set_book(symbol, 100.0, amount=1000.0)
    ledger = Ledger(sqlite_url, clock=clock)
    engine = Engine(
        ledger,
        PaperBroker(market, exchange="sim", fees=config.fees, clock=clock),
        market,
        config,
        clock=clock,
    )
    engine.start()
    bar = clock() - timedelta(minutes=1)
    entries = [make_intent(s, bar_ts=bar) for s in ("BTC/USDT", "ETH/USDT", "SOL/USDT")]
    ledger.add_intents(entries)
    report = engine.tick()
    assert (report.orders_submitted, report.intents_delayed) == (1, 2)
    assert [ledger.intent(i.intent_id).status for i in entries] == ["DONE", "NEW", "NEW"]
    # Within the same second: a close of the open position goes out at once.
    close = make_intent("BTC/USDT", action="close", bar_ts=bar)
    ledger.add_intents([close])
    report = engine.tick()
    assert ledger.intent(close.intent_id).status == "DONE"
    assert report.intents_delayed == 2
    clock.advance(seconds=1)
    engine.tick()
    clock.advance(seconds=1)
    engine.tick()
    assert [ledger.intent(i.intent_id).status for i in entries] == ["DONE", "DONE", "DONE"]
    ledger.close()
