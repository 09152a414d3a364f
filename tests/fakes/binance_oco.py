"""OCO order lists of the fake exchange (``POST /api/v3/orderList/oco``): pure data and checks.

An OCO ("one cancels the other") is two orders on one quantity, one priced above the last
price and one below it. Binance's rules, as the fake applies them:

- a SELL list has a ``LIMIT_MAKER`` or ``TAKE_PROFIT(_LIMIT)`` order above and a
  ``STOP_LOSS(_LIMIT)`` order below; a BUY list the other way round;
- the price relation must hold when the list is placed: the upper order's price (its stop
  price for a stop type) above the last price, the lower one's below it (-2010 otherwise);
- the quantity is reserved once, for both orders;
- when either order executes (a fill, or a stop order's trigger) the other one expires, and
  canceling either cancels both.

The matching, balances and answers live in ``binance_exchange`` with the other orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tests.fakes.binance_errors import BinanceError, order_rejected
from tests.fakes.binance_trading import STOP_TYPES, NewOrder, Order, check_order_params

ABOVE_TYPES: dict[str, tuple[str, ...]] = {
    "SELL": ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"),
    "BUY": ("STOP_LOSS", "STOP_LOSS_LIMIT"),
}
BELOW_TYPES: dict[str, tuple[str, ...]] = {
    "SELL": ("STOP_LOSS", "STOP_LOSS_LIMIT"),
    "BUY": ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"),
}
BAD_PRICE_RELATION = "The relationship of the prices for the orders is not correct."


@dataclass(frozen=True)
class OcoLeg:
    """One order of an OCO request (the ``above*`` or ``below*`` parameters)."""

    type: str
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str | None = None
    client_order_id: str | None = None


@dataclass(frozen=True)
class NewOrderList:
    """A parsed ``POST /api/v3/orderList/oco`` request."""

    symbol: str
    side: str
    quantity: Decimal
    above: OcoLeg
    below: OcoLeg
    list_client_order_id: str | None = None
    response_type: str | None = None

    def leg_request(self, leg: OcoLeg) -> NewOrder:
        """A leg as the single-order request it amounts to (for the per-order checks)."""
        return NewOrder(
            symbol=self.symbol,
            side=self.side,
            type=leg.type,
            time_in_force=leg.time_in_force,
            quantity=self.quantity,
            price=leg.price,
            stop_price=leg.stop_price,
            client_order_id=leg.client_order_id,
            response_type="RESULT",
        )


def _level(leg: OcoLeg) -> Decimal:
    """The price a leg is judged by: its stop price for stop types, else its limit price."""
    level = leg.stop_price if leg.type in STOP_TYPES else leg.price
    assert level is not None  # check_order_params made sure the leg has it
    return level


def check_oco_params(request: NewOrderList, last_price: Decimal | None) -> None:
    """Leg types for the side, each leg's own parameters, and the price relation."""
    if request.side not in ABOVE_TYPES:
        raise BinanceError(-1117, "Invalid side.")
    if (
        request.above.type not in ABOVE_TYPES[request.side]
        or request.below.type not in BELOW_TYPES[request.side]
    ):
        raise BinanceError(-1116, "Invalid orderType.")
    for leg in (request.above, request.below):
        check_order_params(request.leg_request(leg))
    above, below = _level(request.above), _level(request.below)
    if above <= below or (last_price is not None and not below < last_price < above):
        raise order_rejected(BAD_PRICE_RELATION)


@dataclass
class OrderList:
    """One OCO as the exchange stores it; its orders live with the other orders."""

    order_list_id: int
    list_client_order_id: str
    symbol: str
    order_ids: list[int]
    transaction_time: int

    def json(self, orders: list[Order], reports: bool = False) -> dict[str, Any]:
        """``GET /api/v3/orderList`` layout; ``reports`` adds ``orderReports`` (the answer
        to placing or canceling the list)."""
        done = not any(o.is_open for o in orders)
        body: dict[str, Any] = {
            "orderListId": self.order_list_id,
            "contingencyType": "OCO",
            "listStatusType": "ALL_DONE" if done else "EXEC_STARTED",
            "listOrderStatus": "ALL_DONE" if done else "EXECUTING",
            "listClientOrderId": self.list_client_order_id,
            "transactionTime": self.transaction_time,
            "symbol": self.symbol,
            "orders": [
                {"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id}
                for o in orders
            ],
        }
        if reports:
            body["orderReports"] = [o.result_json() for o in orders]
        return body

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderList:
        return cls(**data)
