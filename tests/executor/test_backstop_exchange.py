"""Backstops on an exchange: the engine and reconciliation against the fake Binance, through
the real ccxt client (STOP_LOSS_LIMIT and OCO orders that trigger on the fake's prices)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from executor.brokers.base import OrderRejected
from executor.orders import OrderState
from executor.records import Fill, OrderRecord
from tests.executor.helpers import make_intent, make_order
from tests.executor.test_reconcile import ExchangeRig
from tests.fakes.binance_server import FakeBinance, make_ccxt_client

pytestmark = pytest.mark.integration


@pytest.fixture
def fake() -> FakeBinance:
    with FakeBinance(balances={"USDT": 10_000, "BTC": 0.5}, hang_seconds=2.0) as server:
        server.set_order_book("BTCUSDT", bids=[(30_000, 5.0)], asks=[(30_010, 5.0)])
        server.set_price("BTCUSDT", 30_005)
        yield server
        assert server.internal_errors == []


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


@pytest.fixture
def rig(fake: FakeBinance, url: str) -> ExchangeRig:
    r = ExchangeRig(fake, url)
    r.engine.start()
    yield r
    r.ledger.close()


def enter(rig: ExchangeRig, **protection: float) -> None:
    intent = make_intent(
        bar_ts=rig.clock() - timedelta(minutes=1),
        exchange="binance",
        notional=3_000.0,
        **protection,
    )
    rig.ledger.add_intents([intent])
    rig.tick()


def backstops(rig: ExchangeRig) -> list[OrderRecord]:
    return [o for o in rig.ledger.orders() if o.role == "backstop"]


def on_exchange(fake: FakeBinance, order: OrderRecord) -> dict:
    found = fake.order(order.client_order_id)
    assert found is not None, order.client_order_id
    return found


def restart(rig: ExchangeRig, fake: FakeBinance, url: str) -> ExchangeRig:
    rig.ledger.close()
    again = ExchangeRig(fake, url)
    assert again.engine.start()  # reconciliation passes
    return again


def test_an_oco_rests_on_the_exchange_and_is_canceled_before_the_executors_exit(
    rig: ExchangeRig, fake: FakeBinance
) -> None:
    enter(rig, stop_loss=29_000.0, take_profit=32_000.0)
    (held,) = rig.ledger.open_positions()
    stop, take = backstops(rig)
    stop_ex, take_ex = on_exchange(fake, stop), on_exchange(fake, take)
    assert (stop_ex["type"], stop_ex["stopPrice"], stop_ex["price"]) == (
        "STOP_LOSS_LIMIT",
        "28710.00000000",  # 29000 less 1 %
        "28422.90000000",  # and 1 % below the trigger
    )
    assert (take_ex["type"], take_ex["price"]) == ("LIMIT_MAKER", "32320.00000000")
    assert stop_ex["orderListId"] == take_ex["orderListId"] != -1
    assert float(fake.balances()["BTC"]["locked"]) == pytest.approx(held.quantity)
    # The executor's own stop fires first (its candles touch 29000, not 28710) ...
    rig.engine.market.add_candle("BTC/USDT", held.opened_at, 30_000, 30_000, 28_990, 29_100)
    rig.clock.advance(minutes=2)
    assert rig.tick().protective_exits == 1
    # ... and its market sell goes through because the OCO was canceled first.
    exit_order = next(o for o in rig.ledger.orders() if o.role == "stop_loss")
    assert exit_order.state == OrderState.FILLED
    assert [on_exchange(fake, o)["status"] for o in (stop, take)] == ["CANCELED", "CANCELED"]
    assert rig.ledger.open_positions() == []
    assert rig.reconciler.run().ok


@pytest.mark.parametrize("leg", ["stop", "take"])
def test_a_backstop_filled_while_the_executor_was_down_closes_the_position_once(
    rig: ExchangeRig, fake: FakeBinance, url: str, leg: str
) -> None:
    enter(rig, stop_loss=29_000.0, take_profit=32_000.0)
    if leg == "stop":  # the price falls through 28710 while nobody watches
        fake.set_order_book("BTCUSDT", bids=[(28_600, 5.0)], asks=[(28_610, 5.0)])
        fake.set_price("BTCUSDT", 28_700)
    else:  # or rises through the take-profit leg at 32320
        fake.trade_through("BTCUSDT", 32_400, 1.0)
    rig = restart(rig, fake, url)
    stop, take = backstops(rig)
    filled, expired = (stop, take) if leg == "stop" else (take, stop)
    assert (filled.state, expired.state) == (OrderState.FILLED, OrderState.EXPIRED)
    assert rig.ledger.open_positions() == []
    assert rig.reconciler.last_report.recovered_fills == 1
    sells = [f for f in rig.ledger.fills_since() if f.side == "sell"]
    assert [f.client_order_id for f in sells] == [filled.client_order_id]
    assert sells[0].price == (28_600.0 if leg == "stop" else 32_320.0)
    rig.tick()
    assert rig.reconciler.run().ok and rig.reconciler.last_report.recovered_fills == 0
    assert len(rig.ledger.fills_since()) == 2  # the entry and the backstop, once each
    assert not [o for o in rig.ledger.orders() if o.role in ("stop_loss", "take_profit")]


@pytest.mark.parametrize("how", ["canceled", "unknown"])
def test_a_backstop_gone_from_the_exchange_is_placed_again(
    rig: ExchangeRig, fake: FakeBinance, url: str, how: str
) -> None:
    enter(rig, stop_loss=29_000.0)
    (first,) = backstops(rig)
    if how == "canceled":  # by hand, in the exchange's web page
        make_ccxt_client(fake.url).cancel_order(
            None, "BTC/USDT", {"clientOrderId": first.client_order_id}
        )
    else:  # the exchange lost it
        fake.forget_order(first.client_order_id)
    rig = restart(rig, fake, url)
    assert rig.ledger.order(first.client_order_id).state == OrderState.CANCELED
    assert rig.ledger.trading_state() == "ACTIVE"  # not a position mismatch
    assert rig.reconciler.last_report.backstops_missing == (how == "unknown")
    rig.engine.market.add_candle(
        "BTC/USDT", rig.ledger.open_positions()[0].opened_at, 30_000, 30_100, 29_900, 30_000
    )
    rig.clock.advance(minutes=2)
    rig.tick()
    _, second = backstops(rig)
    assert second.client_order_id.endswith("-b1") and second.state == OrderState.OPEN
    assert on_exchange(fake, second)["status"] == "NEW"


def test_a_stale_backstop_of_a_flat_position_is_canceled_by_reconciliation(
    rig: ExchangeRig, fake: FakeBinance
) -> None:
    enter(rig, stop_loss=29_000.0)
    (held,) = rig.ledger.open_positions()
    (stop,) = backstops(rig)
    # The ledger learns of a sale the exchange does not show (a bug, a manual edit).
    sale = Fill(
        exchange="binance",
        trade_id="manual-1",
        symbol="BTC/USDT",
        side="sell",
        quantity=held.quantity,
        price=30_000.0,
        fee=0.0,
        fee_currency="USDT",
        liquidity="taker",
        event_time=rig.clock(),
    )
    rig.ledger.record_fills([sale])
    report = rig.reconciler.run()
    assert report.backstops_canceled == 1
    assert on_exchange(fake, stop)["status"] == "CANCELED"
    assert rig.ledger.order(stop.client_order_id).state == OrderState.CANCELED


def test_a_rising_trailing_stop_replaces_the_backstop_on_the_exchange(
    rig: ExchangeRig, fake: FakeBinance
) -> None:
    enter(rig, trailing_stop_pct=0.05)
    (held,) = rig.ledger.open_positions()
    rig.engine.market.add_candle("BTC/USDT", held.opened_at, 30_000, 31_500, 30_000, 31_400)
    rig.clock.advance(minutes=2)
    rig.tick()
    old, new = backstops(rig)
    assert on_exchange(fake, old)["status"] == "CANCELED"
    assert on_exchange(fake, new)["stopPrice"] == "29625.75000000"  # 31500 x 0.95 x 0.99
    assert [o["clientOrderId"] for o in fake.orders() if o["status"] == "NEW"] == [
        new.client_order_id
    ]


def test_an_unanswered_oco_is_settled_by_query_and_never_sent_twice(
    rig: ExchangeRig, fake: FakeBinance
) -> None:
    fake.inject("accept_then_timeout", path="/api/v3/orderList/oco")
    enter(rig, stop_loss=29_000.0, take_profit=32_000.0)
    assert [o.state for o in backstops(rig)] == [OrderState.IN_FLIGHT_UNKNOWN] * 2
    rig.tick()
    assert [o.state for o in backstops(rig)] == [OrderState.OPEN] * 2
    assert fake.count_requests("POST", "/api/v3/orderList/oco") == 1


def test_the_broker_never_submits_a_backstop_as_a_plain_order(rig: ExchangeRig) -> None:
    row = make_order(client_order_id="tp-abc-b0", role="backstop", exchange="binance")
    with pytest.raises(OrderRejected, match="place_backstop"):
        rig.broker.submit(row)
    assert rig.broker.supports_native_stops("BTC/USDT") and rig.broker.supports_oco("BTC/USDT")
