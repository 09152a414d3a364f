"""The paper broker follows the fill conventions of trading_core.fills."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from executor.brokers.base import OrderRejected
from executor.brokers.paper import PaperBroker
from executor.orders import OrderState
from executor.records import OrderRecord
from tests.executor.helpers import T0, Clock, StubMarket, make_order
from trading_core.config import FeesConfig
from trading_core.market.sim import SimMarket

FEES = FeesConfig(maker=0.001, taker=0.002, max_slippage_bps=50.0)


def order(**changes: object) -> OrderRecord:
    return make_order(**changes)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def market(clock: Clock) -> StubMarket:
    m = StubMarket(clock)
    # asks 100.01, 100.06, 100.11, ... (5 bps apart), 10 each; bids mirror below 99.99.
    m.set_book("BTC/USDT", 100.0, spread=0.0002, step=0.0005, amount=10.0)
    return m


@pytest.fixture
def broker(market: StubMarket, clock: Clock) -> PaperBroker:
    return PaperBroker(market, exchange="sim", fees=FEES, clock=clock)


def test_market_buy_walks_the_book_and_pays_taker_fee(broker: PaperBroker) -> None:
    snap = broker.submit(order(quantity=15.0))
    assert snap.update.state == OrderState.FILLED
    (f,) = snap.fills
    assert f.quantity == 15.0
    assert f.price == pytest.approx((10 * 100.01 + 5 * 100.06) / 15)
    assert f.fee == pytest.approx(15 * f.price * 0.002)
    assert (f.liquidity, f.fee_currency, f.trade_id) == ("taker", "USDT", "tp-abc-e0-1")


def test_levels_beyond_max_slippage_are_not_taken(broker: PaperBroker) -> None:
    # Best ask 100.01; the cap of 50 bps is 100.51: levels up to 100.21 (5 of them) qualify.
    snap = broker.submit(order(quantity=80.0))
    assert snap.update.state == OrderState.EXPIRED
    assert snap.update.filled_quantity == pytest.approx(50.0)
    assert "max_slippage_bps" in snap.update.reason


def test_market_sell_hits_the_bids(broker: PaperBroker) -> None:
    (f,) = broker.submit(order(side="sell", quantity=1.0)).fills
    assert f.price == pytest.approx(99.99)


def test_resting_limit_fills_only_when_a_later_candle_trades_through(
    broker: PaperBroker, market: StubMarket, clock: Clock
) -> None:
    resting = order(order_type="limit", price=99.5)
    assert broker.submit(resting, at=T0).update.state == OrderState.OPEN
    market.add_candle("BTC/USDT", T0 - timedelta(minutes=1), 100, 100, 99.0, 100)  # before
    market.add_candle("BTC/USDT", T0, 100, 100.2, 99.5, 100)  # touches, does not trade through
    clock.advance(minutes=2)
    assert broker.query(resting).update.state == OrderState.OPEN
    market.add_candle("BTC/USDT", T0 + timedelta(minutes=2), 100, 100.1, 99.4, 99.8)
    clock.advance(minutes=1)
    snap = broker.query(resting)
    assert snap.update.state == OrderState.FILLED
    (f,) = snap.fills
    assert (f.price, f.liquidity, f.trade_id) == (99.5, "maker", "tp-abc-e0-2")
    assert f.fee == pytest.approx(99.5 * 0.001)
    assert f.event_time == T0 + timedelta(minutes=3)  # the close of the candle that filled it


def test_post_only_limit_that_would_cross_is_rejected(broker: PaperBroker) -> None:
    with pytest.raises(OrderRejected, match="post-only"):
        broker.submit(order(order_type="limit", price=100.05, post_only=True))


def test_crossing_limit_takes_up_to_its_price_and_rests_the_rest(broker: PaperBroker) -> None:
    snap = broker.submit(order(order_type="limit", price=100.01, quantity=12.0))
    assert snap.update.state == OrderState.PARTIALLY_FILLED
    assert snap.update.filled_quantity == pytest.approx(10.0)
    assert snap.fills[0].price == pytest.approx(100.01)


def test_cancel_and_restart_restore(broker: PaperBroker, market: StubMarket, clock: Clock) -> None:
    resting = order(order_type="limit", price=99.0)
    broker.submit(resting, at=T0)
    assert broker.cancel(resting).update.state == OrderState.CANCELED
    assert broker.query(resting) is None
    # After a restart the ledger's working orders come back, earlier fills included.
    restored = order(
        order_type="limit",
        price=99.0,
        quantity=2.0,
        filled_quantity=0.5,
        average_price=99.0,
        fee=0.05,
        state=OrderState.PARTIALLY_FILLED,
        submitted_at=T0,
    )
    fresh = PaperBroker(market, exchange="sim", fees=FEES, clock=clock)
    fresh.restore([restored])
    market.add_candle("BTC/USDT", T0, 99.5, 99.6, 98.0, 99.2)
    clock.advance(minutes=5)
    snap = fresh.query(restored)
    assert snap.update.state == OrderState.FILLED
    assert snap.update.filled_quantity == pytest.approx(2.0)
    assert snap.fills[0].quantity == pytest.approx(1.5)
    assert snap.update.fee == pytest.approx(0.05 + 1.5 * 99.0 * 0.001)


@pytest.mark.parametrize(
    ("role", "level", "candle", "price"),
    [
        ("stop_loss", 95.0, (98.0, 99.0, 94.0, 96.0), 95.0),  # touched: the level
        ("stop_loss", 95.0, (93.0, 94.0, 90.0, 92.0), 93.0),  # gapped through: the open
        ("take_profit", 105.0, (101.0, 106.0, 100.0, 104.0), 105.0),
        ("take_profit", 105.0, (107.0, 108.0, 106.0, 107.0), 107.0),
    ],
)
def test_protective_exits_fill_at_the_conventions_price(
    broker: PaperBroker,
    market: StubMarket,
    clock: Clock,
    role: str,
    level: float,
    candle: tuple[float, float, float, float],
    price: float,
) -> None:
    market.add_candle("BTC/USDT", T0, *candle)
    clock.advance(minutes=2)
    exit_order = order(side="sell", role=role, stop_price=level)
    (f,) = broker.submit(exit_order, at=T0).fills
    assert f.price == price
    assert f.event_time == T0 + timedelta(minutes=1)


def test_latency_delays_the_fill(market: StubMarket, clock: Clock) -> None:
    slow = PaperBroker(market, exchange="sim", fees=FEES, clock=clock, latency_ms=250)
    (f,) = slow.submit(order()).fills
    assert f.event_time == T0 + timedelta(milliseconds=250)


def test_matching_against_the_sim_market_is_deterministic() -> None:
    at = datetime(2025, 6, 1, 12, 0)
    fills = [
        PaperBroker(SimMarket(seed=11), exchange="sim", fees=FEES)
        .submit(order(quantity=0.5), at=at)
        .fills[0]
        for _ in range(2)
    ]
    assert fills[0] == fills[1]
    book = SimMarket(seed=11).fetch_order_book("sim", "BTC/USDT", 20, at=at)
    assert book.asks[0][0] <= fills[0].price <= book.asks[0][0] * 1.005
