"""Orders, own trades, balances and the order rules Binance enforces before matching.

Pure data and pure checks; the matching itself (which touches the book, the tape and the
balances together) lives in ``binance_exchange``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from typing import Any

from tests.fakes.binance_errors import (
    BinanceError,
    filter_failure,
    illegal_chars,
    mandatory,
    not_required,
)
from tests.fakes.binance_market import ORDER_TYPES, SymbolSpec
from tests.fakes.binance_values import ZERO, fmt, is_multiple

SIDES = ("BUY", "SELL")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
RESPONSE_TYPES = ("ACK", "RESULT", "FULL")
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
LIMIT_PRICED = ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")

CLIENT_ID_PATTERN = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
_CLIENT_ID_RE = re.compile(CLIENT_ID_PATTERN)


@dataclass(frozen=True)
class NewOrder:
    """A parsed ``POST /api/v3/order`` request."""

    symbol: str
    side: str
    type: str
    time_in_force: str | None = None
    quantity: Decimal | None = None
    quote_order_qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    client_order_id: str | None = None
    response_type: str | None = None

    @property
    def default_response_type(self) -> str:
        # Binance: MARKET and LIMIT answer FULL by default, every other type ACK.
        return self.response_type or ("FULL" if self.type in ("MARKET", "LIMIT") else "ACK")


def check_order_params(order: NewOrder) -> None:
    """Which parameters each order type needs or refuses (-1102 / -1106 / -1100)."""
    if order.side not in SIDES:
        raise BinanceError(-1117, "Invalid side.")
    if order.type not in ORDER_TYPES:
        raise BinanceError(-1116, "Invalid orderType.")
    if order.time_in_force is not None and order.time_in_force not in TIME_IN_FORCE:
        raise BinanceError(-1115, "Invalid timeInForce.")
    if order.response_type is not None and order.response_type not in RESPONSE_TYPES:
        raise BinanceError(-1177, "Invalid newOrderRespType.")
    if order.client_order_id is not None and not _CLIENT_ID_RE.match(order.client_order_id):
        raise illegal_chars("newClientOrderId", CLIENT_ID_PATTERN)

    if order.type == "MARKET":
        if order.quantity is None and order.quote_order_qty is None:
            raise BinanceError(
                -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty!"
            )
        if order.quantity is not None and order.quote_order_qty is not None:
            raise not_required("quoteOrderQty")
        for name, value in (("price", order.price), ("timeInForce", order.time_in_force)):
            if value is not None:
                raise not_required(name)
    else:
        if order.quantity is None:
            raise mandatory("quantity")
        if order.quote_order_qty is not None:
            raise not_required("quoteOrderQty")
    if order.type in LIMIT_PRICED and order.price is None:
        raise mandatory("price")
    if order.type in ("STOP_LOSS", "TAKE_PROFIT") and order.price is not None:
        raise not_required("price")
    if order.type in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
        if order.time_in_force is None:
            raise mandatory("timeInForce")
    elif order.time_in_force is not None:
        raise not_required("timeInForce")
    if order.type in STOP_TYPES:
        if order.stop_price is None:
            raise mandatory("stopPrice")
    elif order.stop_price is not None:
        raise not_required("stopPrice")


def check_filters(spec: SymbolSpec, order: NewOrder, reference_price: Decimal | None) -> None:
    """PRICE_FILTER, LOT_SIZE and NOTIONAL, as Binance applies them (-1013 Filter failure).

    Market orders are held to NOTIONAL at ``reference_price`` (Binance uses a recent average
    price); with no known price the fake cannot judge and lets them through.
    """
    for price in (order.price, order.stop_price):
        if price is None:
            continue
        if (
            price < spec.lowest_price
            or price > spec.max_price
            or not is_multiple(price, spec.tick_size, spec.lowest_price)
        ):
            raise filter_failure("PRICE_FILTER")
    if order.quantity is not None and (
        order.quantity < spec.min_qty
        or order.quantity > spec.max_qty
        or not is_multiple(order.quantity, spec.step_size, spec.min_qty)
    ):
        raise filter_failure("LOT_SIZE")
    notional: Decimal | None = None
    if order.quote_order_qty is not None:
        notional = order.quote_order_qty
    elif order.quantity is not None:
        price = order.price if order.type in LIMIT_PRICED else reference_price
        if order.type in ("STOP_LOSS", "TAKE_PROFIT"):
            price = order.stop_price
        notional = None if price is None else order.quantity * price
    if notional is not None:
        below_min = notional < spec.min_notional
        above_max = order.type not in ("MARKET",) and notional > spec.max_notional
        if below_min or above_max:
            raise filter_failure("NOTIONAL")


@dataclass
class Order:
    """One order as the exchange stores it (Binance field meanings, Python names)."""

    symbol: str
    order_id: int
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    stop_price: Decimal
    orig_quote_order_qty: Decimal
    time: int
    update_time: int
    working_time: int  # -1 while a stop order waits for its trigger (Binance's convention)
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cumm_quote_qty: Decimal = ZERO
    locked: Decimal = ZERO  # funds still reserved for the unfilled rest (quote for a buy)
    order_list_id: int = -1  # the OCO it belongs to (binance_oco), -1 for none

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_working(self) -> bool:
        return self.working_time != -1

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    def _common(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": self.client_order_id,
        }

    def _amounts(self) -> dict[str, Any]:
        body = {
            "price": fmt(self.price),
            "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "origQuoteOrderQty": fmt(self.orig_quote_order_qty),
            "cummulativeQuoteQty": fmt(self.cumm_quote_qty),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
        }
        if self.type in STOP_TYPES:
            body["stopPrice"] = fmt(self.stop_price)
        return body

    def ack_json(self) -> dict[str, Any]:
        return {**self._common(), "transactTime": self.time}

    def result_json(self) -> dict[str, Any]:
        """``newOrderRespType=RESULT`` layout (FULL adds ``fills``)."""
        return {
            **self.ack_json(),
            **self._amounts(),
            "workingTime": self.working_time,
            "selfTradePreventionMode": "NONE",
        }

    def query_json(self) -> dict[str, Any]:
        """``GET /api/v3/order``, ``openOrders`` and ``allOrders`` layout."""
        return {
            **self._common(),
            **self._amounts(),
            "stopPrice": fmt(self.stop_price),
            "icebergQty": fmt(ZERO),
            "time": self.time,
            "updateTime": self.update_time,
            "isWorking": self.is_working,
            "workingTime": self.working_time,
            "selfTradePreventionMode": "NONE",
        }

    def cancel_json(self, cancel_client_id: str, transact_time: int) -> dict[str, Any]:
        """``DELETE /api/v3/order``: ``clientOrderId`` is the cancel request's own id."""
        return {
            "symbol": self.symbol,
            "origClientOrderId": self.client_order_id,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": cancel_client_id,
            "transactTime": transact_time,
            **self._amounts(),
            "selfTradePreventionMode": "NONE",
        }

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Order:
        decimal_fields = {f.name for f in fields(cls) if f.type in ("Decimal", Decimal)}
        return cls(**{k: Decimal(v) if k in decimal_fields else v for k, v in data.items()})


@dataclass(frozen=True)
class MyTrade:
    """One fill of one of our orders (``GET /api/v3/myTrades`` row)."""

    symbol: str
    trade_id: int
    order_id: int
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool

    def json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "id": self.trade_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.price * self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time,
            "isBuyer": self.is_buyer,
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }

    def fill_json(self) -> dict[str, Any]:
        """An entry of ``fills`` in a FULL order response."""
        return {
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "tradeId": self.trade_id,
        }

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MyTrade:
        decimal_fields = ("price", "qty", "commission")
        return cls(**{k: Decimal(v) if k in decimal_fields else v for k, v in data.items()})


class Balances:
    """Free and locked amount per asset."""

    def __init__(self) -> None:
        self._free: dict[str, Decimal] = {}
        self._locked: dict[str, Decimal] = {}

    def free(self, asset: str) -> Decimal:
        return self._free.get(asset, ZERO)

    def locked(self, asset: str) -> Decimal:
        return self._locked.get(asset, ZERO)

    def set_free(self, asset: str, amount: Decimal) -> None:
        self._free[asset] = amount
        self._locked.setdefault(asset, ZERO)

    def add_free(self, asset: str, amount: Decimal) -> None:
        self.set_free(asset, self.free(asset) + amount)

    def lock(self, asset: str, amount: Decimal) -> None:
        self.set_free(asset, self.free(asset) - amount)
        self._locked[asset] = self.locked(asset) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        """Return reserved funds to free."""
        self._locked[asset] = self.locked(asset) - amount
        self.add_free(asset, amount)

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        self._locked[asset] = self.locked(asset) - amount

    def assets(self) -> list[str]:
        return sorted(set(self._free) | set(self._locked))

    def json(self) -> dict[str, dict[str, str]]:
        return {
            a: {"free": fmt(self.free(a)), "locked": fmt(self.locked(a))} for a in self.assets()
        }

    def to_json(self) -> dict[str, list[str]]:
        return {a: [str(self.free(a)), str(self.locked(a))] for a in self.assets()}

    @classmethod
    def from_json(cls, data: dict[str, list[str]]) -> Balances:
        balances = cls()
        for asset, (free, locked) in data.items():
            balances._free[asset] = Decimal(free)
            balances._locked[asset] = Decimal(locked)
        return balances


def stop_triggered(order_type: str, side: str, stop_price: Decimal, last: Decimal) -> bool:
    """Binance spot trigger rules: a stop-loss sells on a fall and buys on a rise;
    a take-profit the other way round."""
    falling_trigger = last <= stop_price
    rising_trigger = last >= stop_price
    if order_type.startswith("STOP_LOSS"):
        return falling_trigger if side == "SELL" else rising_trigger
    return rising_trigger if side == "SELL" else falling_trigger


def crosses(side: str, limit_price: Decimal, market_price: Decimal) -> bool:
    """A resting limit fills when the market trades *through* it (strictly beyond), the
    convention of trading_core/fills.py that the paper broker and backtester share."""
    return market_price < limit_price if side == "BUY" else market_price > limit_price
