"""OCO order lists of the fake Binance, through the real ccxt client's raw endpoints: one
reservation for both orders, the price path triggering one and expiring the other, cancels,
refusals and persistence."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import ccxt
import pytest

from tests.fakes.binance_exchange import FakeExchange
from tests.fakes.binance_oco import NewOrderList, OcoLeg
from tests.fakes.binance_server import FakeBinance, make_ccxt_client

pytestmark = pytest.mark.integration


@pytest.fixture
def fake() -> FakeBinance:
    with FakeBinance(balances={"USDT": 100_000, "BTC": 1}) as server:
        server.set_order_book("BTCUSDT", bids=[(30_000, 0.5)], asks=[(30_010, 0.5)])
        server.set_price("BTCUSDT", 30_005)
        yield server
        assert server.internal_errors == []


@pytest.fixture
def client(fake: FakeBinance) -> ccxt.binance:
    c = make_ccxt_client(fake.url, timeout=1000)
    c.load_markets()
    return c


def oco(**changes: str) -> dict[str, str]:
    request = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "quantity": "0.3",
        "listClientOrderId": "list1",
        "aboveType": "LIMIT_MAKER",
        "abovePrice": "31000",
        "aboveClientOrderId": "take1",
        "belowType": "STOP_LOSS_LIMIT",
        "belowStopPrice": "29000",
        "belowPrice": "28900",
        "belowTimeInForce": "GTC",
        "belowClientOrderId": "stop1",
    }
    return {**request, **changes}


def status(fake: FakeBinance, client_order_id: str) -> str:
    found = fake.order(client_order_id)
    assert found is not None
    return found["status"]


def btc(fake: FakeBinance) -> tuple[Decimal, Decimal]:
    balance = fake.balances()["BTC"]
    return Decimal(balance["free"]), Decimal(balance["locked"])


def test_an_oco_reserves_its_quantity_once_for_both_orders(fake, client) -> None:
    placed = client.privatePostOrderListOco(oco())
    assert (placed["contingencyType"], placed["listOrderStatus"]) == ("OCO", "EXECUTING")
    reports = {r["clientOrderId"]: r for r in placed["orderReports"]}
    assert reports["stop1"]["type"] == "STOP_LOSS_LIMIT"
    assert reports["take1"]["type"] == "LIMIT_MAKER"
    assert {r["orderListId"] for r in reports.values()} == {placed["orderListId"]}
    assert btc(fake) == (Decimal("0.7"), Decimal("0.3"))
    stop = client.fetch_order(None, "BTC/USDT", {"clientOrderId": "stop1"})
    assert (stop["status"], stop["triggerPrice"]) == ("open", 29_000.0)
    listed = client.privateGetOrderList({"origClientOrderId": "list1"})
    assert [o["clientOrderId"] for o in listed["orders"]] == ["stop1", "take1"]


def test_a_fall_triggers_the_stop_and_expires_the_take_profit(fake, client) -> None:
    client.privatePostOrderListOco(oco())
    fake.set_order_book("BTCUSDT", bids=[(28_950, 1.0)], asks=[(28_960, 1.0)])
    fake.set_price("BTCUSDT", 28_990)
    assert (status(fake, "stop1"), status(fake, "take1")) == ("FILLED", "EXPIRED")
    assert [t["price"] for t in fake.trades()] == ["28950.00000000"]
    assert btc(fake) == (Decimal("0.7"), Decimal("0"))
    listed = client.privateGetOrderList({"origClientOrderId": "list1"})
    assert listed["listOrderStatus"] == "ALL_DONE"


def test_a_stop_limit_that_gaps_past_its_limit_waits_for_the_market(fake, client) -> None:
    client.privatePostOrderListOco(oco())
    fake.set_order_book("BTCUSDT", bids=[(28_000, 1.0)], asks=[(28_010, 1.0)])
    fake.set_price("BTCUSDT", 28_005)  # below the 28900 limit: triggered, nothing to take
    assert (status(fake, "stop1"), status(fake, "take1")) == ("NEW", "EXPIRED")
    fake.trade_through("BTCUSDT", 28_950, 1.0)
    assert status(fake, "stop1") == "FILLED"
    assert [t["price"] for t in fake.trades()] == ["28900.00000000"]


def test_a_rise_fills_the_take_profit_as_maker_and_expires_the_stop(fake, client) -> None:
    client.privatePostOrderListOco(oco())
    fake.trade_through("BTCUSDT", 31_100, 1.0)
    assert (status(fake, "take1"), status(fake, "stop1")) == ("FILLED", "EXPIRED")
    (trade,) = fake.trades()
    assert (trade["price"], trade["isMaker"]) == ("31000.00000000", True)
    fake.set_price("BTCUSDT", 28_000)  # the expired stop no longer triggers
    assert len(fake.trades()) == 1 and btc(fake) == (Decimal("0.7"), Decimal("0"))


def test_canceling_one_order_cancels_the_list(fake, client) -> None:
    client.privatePostOrderListOco(oco())
    client.cancel_order(None, "BTC/USDT", {"clientOrderId": "take1"})
    assert (status(fake, "stop1"), status(fake, "take1")) == ("CANCELED", "CANCELED")
    assert btc(fake) == (Decimal("1"), Decimal("0"))
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order(None, "BTC/USDT", {"clientOrderId": "stop1"})
    client.privatePostOrderListOco(oco(listClientOrderId="list2"))
    canceled = client.privateDeleteOrderList({"symbol": "BTCUSDT", "listClientOrderId": "list2"})
    assert {r["status"] for r in canceled["orderReports"]} == {"CANCELED"}
    assert btc(fake) == (Decimal("1"), Decimal("0"))


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"abovePrice": "30000"}, ccxt.InvalidOrder),  # not above the last price 30005
        ({"belowStopPrice": "30005"}, ccxt.InvalidOrder),  # not below it
        ({"aboveType": "STOP_LOSS_LIMIT"}, ccxt.BadRequest),  # a sell's upper order
        ({"belowTimeInForce": ""}, ccxt.BadRequest),  # a stop-limit needs it
        ({"quantity": "2"}, ccxt.InsufficientFunds),
    ],
)
def test_refused_lists_place_nothing(fake, client, changes, error) -> None:
    with pytest.raises(error):
        client.privatePostOrderListOco(oco(**changes))
    assert fake.orders() == [] and btc(fake) == (Decimal("1"), Decimal("0"))


def test_a_working_list_id_or_order_id_cannot_be_reused(fake, client) -> None:
    client.privatePostOrderListOco(oco())
    for changes in ({}, {"listClientOrderId": "list2"}):
        with pytest.raises(ccxt.InvalidOrder, match="Duplicate"):
            client.privatePostOrderListOco(oco(**changes))
    assert len(fake.orders()) == 2


def test_lists_survive_a_restart_of_the_exchange(tmp_path: Path) -> None:
    state = tmp_path / "exchange.json"
    first = FakeExchange(balances={"USDT": 1000, "BTC": 1}, state_path=state)
    first.set_order_book("BTCUSDT", bids=[(30_000, 1.0)], asks=[(30_010, 1.0)])
    first.set_price("BTCUSDT", 30_005)
    first.api_new_order_list_oco(
        NewOrderList(
            symbol="BTCUSDT",
            side="SELL",
            quantity=Decimal("0.3"),
            above=OcoLeg("LIMIT_MAKER", price=Decimal(31_000), client_order_id="take1"),
            below=OcoLeg(
                "STOP_LOSS_LIMIT",
                price=Decimal(28_900),
                stop_price=Decimal(29_000),
                time_in_force="GTC",
                client_order_id="stop1",
            ),
            list_client_order_id="list1",
        )
    )
    again = FakeExchange(state_path=state)
    again.set_order_book("BTCUSDT", bids=[(28_950, 1.0)], asks=[(28_960, 1.0)])
    again.set_price("BTCUSDT", 28_990)
    assert again.order("stop1")["status"] == "FILLED"
    assert again.order("take1")["status"] == "EXPIRED"
    assert again.api_query_order_list(None, "list1")["listOrderStatus"] == "ALL_DONE"


def test_a_forgotten_order_is_unknown_and_frees_its_funds(fake, client) -> None:
    client.create_order("BTC/USDT", "limit", "sell", 0.2, 29_000, {"stopLossPrice": 29_100})
    (stop,) = fake.orders()
    fake.forget_order(stop["clientOrderId"])
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(None, "BTC/USDT", {"clientOrderId": stop["clientOrderId"]})
    assert btc(fake) == (Decimal("1"), Decimal("0"))
