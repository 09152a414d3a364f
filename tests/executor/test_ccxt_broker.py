"""The ccxt broker against the fake Binance through the real ccxt client, fault by fault."""

from __future__ import annotations

import dataclasses

import ccxt
import pytest

from executor.brokers.base import OrderRejected, SubmitOutcomeUnknown
from executor.brokers.ccxt_broker import CcxtBroker
from executor.orders import OrderState
from executor.records import OrderRecord
from tests.executor.helpers import make_order
from tests.fakes.binance_server import FakeBinance, make_ccxt_client
from trading_core.config import FeesConfig
from trading_core.retry import RetryPolicy

pytestmark = pytest.mark.integration

FAST = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.01, jitter=False)


@pytest.fixture
def fake() -> FakeBinance:
    with FakeBinance(balances={"USDT": 10_000, "BTC": 0}, hang_seconds=2.0) as server:
        server.set_order_book(
            "BTCUSDT", bids=[(30_000, 1.0), (29_990, 2.0)], asks=[(30_010, 0.2), (30_020, 2.0)]
        )
        yield server
        assert server.internal_errors == []


@pytest.fixture
def broker(fake: FakeBinance) -> CcxtBroker:
    waits: list[float] = []
    b = CcxtBroker(
        make_ccxt_client(fake.url, timeout=500), fees=FeesConfig(), retry=FAST, sleep=waits.append
    )
    b.waits = waits  # type: ignore[attr-defined]
    return b


def order(cid: str = "tp-abc-e0", **changes: object) -> OrderRecord:
    defaults = {"exchange": "binance", "quantity": 0.1, "mode": "testnet"}
    return make_order(client_order_id=cid, **{**defaults, **changes})


def submits(fake: FakeBinance) -> int:
    return fake.count_requests("POST", "/api/v3/order")


def test_market_rules_come_from_exchange_info(broker: CcxtBroker) -> None:
    rules = broker.market_rules("BTC/USDT")
    assert (rules.amount_step, rules.price_tick, rules.min_notional) == (0.00001, 0.01, 5.0)


def test_a_market_order_fills_with_its_trades(broker: CcxtBroker, fake: FakeBinance) -> None:
    snap = broker.submit(order(quantity=0.3))
    assert snap.update.state == OrderState.FILLED
    assert snap.update.filled_quantity == pytest.approx(0.3)
    assert [f.quantity for f in snap.fills] == pytest.approx([0.2, 0.1])
    assert {f.client_order_id for f in snap.fills} == {"tp-abc-e0"}
    assert snap.fills[0].fee_currency == "USDT"
    (placed,) = fake.orders()
    assert placed["clientOrderId"] == "tp-abc-e0"
    assert snap.update.exchange_order_id == str(placed["orderId"])


@pytest.mark.parametrize("fault", ["429", "418"])
def test_rate_limits_are_retried_and_place_one_order(
    broker: CcxtBroker, fake: FakeBinance, fault: str
) -> None:
    fake.inject(fault, retry_after=0)
    assert broker.submit(order()).update.state == OrderState.FILLED
    assert submits(fake) == 2
    assert len(fake.orders()) == 1


def test_rate_limits_on_every_attempt_reject_with_the_reason(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    fake.inject("429", count=3, retry_after=0)
    with pytest.raises(OrderRejected, match="rate limited"):
        broker.submit(order())
    assert fake.orders() == []


@pytest.mark.parametrize("fault", ["500", "502", "503", "504", "timeout", "reset"])
def test_a_lost_answer_is_unknown_and_never_resent(
    broker: CcxtBroker, fake: FakeBinance, fault: str
) -> None:
    fake.inject(fault)
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(order())
    assert submits(fake) == 1
    assert broker.query(order()) is None  # the fault kept it from the book


@pytest.mark.parametrize("fault", ["accept_then_timeout", "accept_then_reset"])
def test_an_order_accepted_before_the_answer_was_lost_is_found_by_client_id(
    broker: CcxtBroker, fake: FakeBinance, fault: str
) -> None:
    fake.inject(fault)
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(order())
    found = broker.query(order())
    assert found.update.state == OrderState.FILLED
    assert len(found.fills) == 1
    assert submits(fake) == 1 and len(fake.orders()) == 1


def test_a_duplicate_client_id_adopts_the_existing_order(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    resting = order(order_type="limit", price=29_000.0)
    client = make_ccxt_client(fake.url)  # e.g. a previous process that died after sending
    client.create_order(
        "BTC/USDT", "limit", "buy", 0.1, 29_000.0, {"clientOrderId": resting.client_order_id}
    )
    snap = broker.submit(resting)
    assert snap.update.state == OrderState.OPEN
    assert len(fake.orders()) == 1


def test_a_duplicate_answer_for_an_order_that_is_not_there_stays_unknown(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    fake.inject("duplicate")
    with pytest.raises(SubmitOutcomeUnknown, match="duplicate"):
        broker.submit(order())
    assert fake.orders() == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"quantity": 10.0}, "InsufficientFunds"),
        ({"order_type": "limit", "price": 30_100.0, "post_only": True}, "immediately"),
        ({"quantity": 0.00001}, "NOTIONAL"),
    ],
)
def test_definitive_refusals_keep_the_exchange_reason(
    broker: CcxtBroker, changes: dict, reason: str
) -> None:
    with pytest.raises(OrderRejected, match=reason):
        broker.submit(order(**changes))


def test_reads_retry_through_server_errors(broker: CcxtBroker, fake: FakeBinance) -> None:
    broker.submit(order())
    fake.inject("503", path="/api/v3/order", method="GET", count=2)
    assert broker.query(order()).update.state == OrderState.FILLED


def test_cancel_and_partial_fills(broker: CcxtBroker, fake: FakeBinance) -> None:
    resting = order(order_type="limit", price=29_000.0, quantity=0.3)
    snap = broker.submit(resting)
    resting = dataclasses.replace(resting, exchange_order_id=snap.update.exchange_order_id)
    fake.partial_fill(resting.client_order_id, 0.1)
    part = broker.query(resting)
    assert part.update.state == OrderState.PARTIALLY_FILLED
    assert part.update.filled_quantity == pytest.approx(0.1)
    canceled = broker.cancel(resting)
    assert canceled.update.state == OrderState.CANCELED
    assert canceled.update.filled_quantity == pytest.approx(0.1)
    assert len(canceled.fills) == 1


def test_unknown_orders_query_as_none_and_exchange_errors_are_ccxt(broker: CcxtBroker) -> None:
    assert broker.query(order("tp-never-e0")) is None
    with pytest.raises(ccxt.BadSymbol):
        broker.market_rules("NOPE/USDT")
