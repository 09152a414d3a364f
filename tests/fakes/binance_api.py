"""The Binance spot REST endpoints the fake serves: routing, parameters, security.

Transport-free: ``handle`` takes the raw request parts and returns status, JSON payload and
headers, so the HTTP server stays a thin shell. Parameter rules follow Binance: unknown
parameters are refused (-1104), missing ones name themselves (-1102), limits are bounded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.binance_auth import check_api_key, check_signed
from tests.fakes.binance_errors import (
    BinanceError,
    invalid_symbol,
    invalid_value,
    mandatory,
)
from tests.fakes.binance_exchange import FakeExchange
from tests.fakes.binance_market import INTERVAL_MS
from tests.fakes.binance_oco import NewOrderList, OcoLeg
from tests.fakes.binance_trading import NewOrder
from tests.fakes.binance_values import parse_decimal_param, wall_ms

_INT_PATTERN = "^[0-9]{1,20}$"


class Security(Enum):
    NONE = "NONE"
    API_KEY = "API_KEY"  # X-MBX-APIKEY header only (historicalTrades)
    SIGNED = "SIGNED"


SIGNED_EXTRAS = frozenset({"timestamp", "recvWindow", "signature"})


@dataclass(frozen=True)
class Response:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)


class Params:
    """Typed access to request parameters, failing with Binance's errors."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = {k: v for k, v in values.items() if v != ""}

    def text(self, name: str) -> str | None:
        return self._values.get(name)

    def required(self, name: str) -> str:
        value = self._values.get(name)
        if value is None:
            raise mandatory(name)
        return value

    def integer(self, name: str) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if not value.isdigit():
            raise BinanceError(
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is '{_INT_PATTERN}'.",
            )
        return int(value)

    def decimal(self, name: str) -> Decimal | None:
        value = self.text(name)
        return None if value is None else parse_decimal_param(name, value)

    def limit(self, default: int, maximum: int, truncate: bool = False) -> int:
        value = self.integer("limit")
        if value is None:
            return default
        if value < 1 or (value > maximum and not truncate):
            raise invalid_value("limit")
        return min(value, maximum)

    def symbol(self) -> str:
        return self.required("symbol")

    def symbols(self) -> list[str] | None:
        """``symbol`` or ``symbols`` (a JSON array), as the ticker endpoints take them."""
        single = self.text("symbol")
        many = self.text("symbols")
        if single is not None and many is not None:
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        if single is not None:
            return [single]
        if many is None:
            return None
        try:
            parsed = json.loads(many)
        except ValueError:
            raise invalid_symbol() from None
        if not isinstance(parsed, list) or not all(isinstance(s, str) for s in parsed):
            raise invalid_symbol()
        return parsed


Handler = Callable[[FakeExchange, Params], Any]


@dataclass(frozen=True)
class Endpoint:
    security: Security
    params: frozenset[str]
    handler: Handler


# ------------------------------------------------------------------------------ handlers


def _single_or_list(params: Params, rows: list[dict[str, Any]]) -> Any:
    return rows[0] if params.text("symbol") is not None else rows


def _klines(ex: FakeExchange, p: Params) -> Any:
    symbol = p.symbol()
    interval = p.required("interval")
    if interval not in INTERVAL_MS:
        raise BinanceError(-1120, "Invalid interval.")
    return ex.api_klines(
        symbol, interval, p.integer("startTime"), p.integer("endTime"), p.limit(500, 1000)
    )


def _new_order_request(p: Params) -> NewOrder:
    return NewOrder(
        symbol=p.symbol(),
        side=p.required("side"),
        type=p.required("type"),
        time_in_force=p.text("timeInForce"),
        quantity=p.decimal("quantity"),
        quote_order_qty=p.decimal("quoteOrderQty"),
        price=p.decimal("price"),
        stop_price=p.decimal("stopPrice"),
        client_order_id=p.text("newClientOrderId"),
        response_type=p.text("newOrderRespType"),
    )


def _oco_leg(p: Params, prefix: str) -> OcoLeg:
    return OcoLeg(
        type=p.required(f"{prefix}Type"),
        price=p.decimal(f"{prefix}Price"),
        stop_price=p.decimal(f"{prefix}StopPrice"),
        time_in_force=p.text(f"{prefix}TimeInForce"),
        client_order_id=p.text(f"{prefix}ClientOrderId"),
    )


def _new_order_list(ex: FakeExchange, p: Params) -> Any:
    quantity = p.decimal("quantity")
    if quantity is None:
        raise mandatory("quantity")
    request = NewOrderList(
        symbol=p.symbol(),
        side=p.required("side"),
        quantity=quantity,
        above=_oco_leg(p, "above"),
        below=_oco_leg(p, "below"),
        list_client_order_id=p.text("listClientOrderId"),
        response_type=p.text("newOrderRespType"),
    )
    return ex.api_new_order_list_oco(request)


def _list_ids(p: Params, client_id_name: str) -> tuple[int | None, str | None]:
    list_id = p.integer("orderListId")
    client_id = p.text(client_id_name)
    if list_id is None and client_id is None:
        raise BinanceError(
            -1102,
            f"Param '{client_id_name}' or 'orderListId' must be sent, but both were empty/null!",
        )
    return list_id, client_id


def _order_ids(p: Params) -> tuple[int | None, str | None]:
    order_id = p.integer("orderId")
    client_id = p.text("origClientOrderId")
    if order_id is None and client_id is None:
        raise BinanceError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    return order_id, client_id


def _query_order(ex: FakeExchange, p: Params) -> Any:
    symbol = p.symbol()
    return ex.api_query_order(symbol, *_order_ids(p))


def _cancel_order(ex: FakeExchange, p: Params) -> Any:
    symbol = p.symbol()
    order_id, client_id = _order_ids(p)
    return ex.api_cancel_order(symbol, order_id, client_id, p.text("newClientOrderId"))


def _account(ex: FakeExchange, p: Params) -> Any:
    omit = p.text("omitZeroBalances")
    if omit not in (None, "true", "false"):
        raise invalid_value("omitZeroBalances")
    return ex.api_account(omit_zero=omit == "true")


_OCO_PARAMS = frozenset(
    {"symbol", "listClientOrderId", "side", "quantity", "newOrderRespType"}
    | {
        f"{leg}{name}"
        for leg in ("above", "below")
        for name in ("Type", "ClientOrderId", "Price", "StopPrice", "TimeInForce")
    }
)

_ORDER_PARAMS = frozenset(
    {
        "symbol",
        "side",
        "type",
        "timeInForce",
        "quantity",
        "quoteOrderQty",
        "price",
        "newClientOrderId",
        "stopPrice",
        "newOrderRespType",
    }
)


def _endpoint(security: Security, params: set[str], handler: Handler) -> Endpoint:
    return Endpoint(security, frozenset(params), handler)


NONE, API_KEY, SIGNED = Security.NONE, Security.API_KEY, Security.SIGNED

ROUTES: dict[tuple[str, str], Endpoint] = {
    ("GET", "/api/v3/ping"): _endpoint(NONE, set(), lambda ex, p: {}),
    ("GET", "/api/v3/time"): _endpoint(NONE, set(), lambda ex, p: {"serverTime": ex.now_ms()}),
    ("GET", "/api/v3/exchangeInfo"): _endpoint(
        NONE,
        {"symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"},
        lambda ex, p: ex.api_exchange_info(p.symbols()),
    ),
    ("GET", "/api/v3/klines"): _endpoint(
        NONE, {"symbol", "interval", "startTime", "endTime", "timeZone", "limit"}, _klines
    ),
    ("GET", "/api/v3/depth"): _endpoint(
        NONE,
        {"symbol", "limit"},
        lambda ex, p: ex.api_depth(p.symbol(), p.limit(100, 5000, truncate=True)),
    ),
    ("GET", "/api/v3/trades"): _endpoint(
        NONE, {"symbol", "limit"}, lambda ex, p: ex.api_trades(p.symbol(), p.limit(500, 1000))
    ),
    ("GET", "/api/v3/historicalTrades"): _endpoint(
        API_KEY,
        {"symbol", "limit", "fromId"},
        lambda ex, p: ex.api_historical_trades(p.symbol(), p.integer("fromId"), p.limit(500, 1000)),
    ),
    ("GET", "/api/v3/aggTrades"): _endpoint(
        NONE,
        {"symbol", "fromId", "startTime", "endTime", "limit"},
        lambda ex, p: ex.api_agg_trades(
            p.symbol(),
            p.integer("fromId"),
            p.integer("startTime"),
            p.integer("endTime"),
            p.limit(500, 1000),
        ),
    ),
    ("GET", "/api/v3/ticker/price"): _endpoint(
        NONE,
        {"symbol", "symbols"},
        lambda ex, p: _single_or_list(p, ex.api_ticker_price(p.symbols())),
    ),
    ("GET", "/api/v3/ticker/bookTicker"): _endpoint(
        NONE,
        {"symbol", "symbols"},
        lambda ex, p: _single_or_list(p, ex.api_book_ticker(p.symbols())),
    ),
    ("GET", "/api/v3/ticker/24hr"): _endpoint(
        NONE,
        {"symbol", "symbols", "type"},
        lambda ex, p: _single_or_list(p, ex.api_ticker_24hr(p.symbols())),
    ),
    ("POST", "/api/v3/order"): _endpoint(
        SIGNED, set(_ORDER_PARAMS), lambda ex, p: ex.api_new_order(_new_order_request(p))
    ),
    ("POST", "/api/v3/order/test"): _endpoint(
        SIGNED,
        set(_ORDER_PARAMS) | {"computeCommissionRates"},
        lambda ex, p: ex.api_test_order(_new_order_request(p)),
    ),
    ("GET", "/api/v3/order"): _endpoint(
        SIGNED, {"symbol", "orderId", "origClientOrderId"}, _query_order
    ),
    ("DELETE", "/api/v3/order"): _endpoint(
        SIGNED,
        {"symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"},
        _cancel_order,
    ),
    ("POST", "/api/v3/orderList/oco"): _endpoint(SIGNED, set(_OCO_PARAMS), _new_order_list),
    ("GET", "/api/v3/orderList"): _endpoint(
        SIGNED,
        {"orderListId", "origClientOrderId"},
        lambda ex, p: ex.api_query_order_list(*_list_ids(p, "origClientOrderId")),
    ),
    ("DELETE", "/api/v3/orderList"): _endpoint(
        SIGNED,
        {"symbol", "orderListId", "listClientOrderId", "newClientOrderId"},
        lambda ex, p: ex.api_cancel_order_list(p.symbol(), *_list_ids(p, "listClientOrderId")),
    ),
    ("GET", "/api/v3/openOrders"): _endpoint(
        SIGNED, {"symbol"}, lambda ex, p: ex.api_open_orders(p.text("symbol"))
    ),
    ("DELETE", "/api/v3/openOrders"): _endpoint(
        SIGNED, {"symbol"}, lambda ex, p: ex.api_cancel_open_orders(p.symbol())
    ),
    ("GET", "/api/v3/allOrders"): _endpoint(
        SIGNED,
        {"symbol", "orderId", "startTime", "endTime", "limit"},
        lambda ex, p: ex.api_all_orders(
            p.symbol(),
            p.integer("orderId"),
            p.integer("startTime"),
            p.integer("endTime"),
            p.limit(500, 1000),
        ),
    ),
    ("GET", "/api/v3/myTrades"): _endpoint(
        SIGNED,
        {"symbol", "orderId", "startTime", "endTime", "fromId", "limit"},
        lambda ex, p: ex.api_my_trades(
            p.symbol(),
            p.integer("orderId"),
            p.integer("fromId"),
            p.integer("startTime"),
            p.integer("endTime"),
            p.limit(500, 1000),
        ),
    ),
    ("GET", "/api/v3/account"): _endpoint(SIGNED, {"omitZeroBalances"}, _account),
    ("GET", "/sapi/v1/account/apiRestrictions"): _endpoint(
        SIGNED, set(), lambda ex, p: ex.api_restrictions()
    ),
}

KNOWN_PATHS = frozenset(path for _, path in ROUTES)


def parse_params(query: str, body: str) -> dict[str, str]:
    """Query and form body parameters; a name sent twice is refused (-1101)."""
    pairs = parse_qsl(query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise BinanceError(-1101, "Duplicate values for a parameter detected.")
        params[name] = value
    return params


def handle(
    exchange: FakeExchange,
    method: str,
    path: str,
    query: str,
    body: str,
    headers: Mapping[str, str],
) -> Response:
    """Answer one REST request the way Binance would."""
    endpoint = ROUTES.get((method, path))
    if endpoint is None:
        status = 405 if path in KNOWN_PATHS else 404
        return Response(status, None)
    try:
        raw = parse_params(query, body)
        if endpoint.security is Security.SIGNED:
            check_signed(query, body, raw, headers, exchange.api_key, exchange.secret, wall_ms())
        elif endpoint.security is Security.API_KEY:
            check_api_key(headers, exchange.api_key)
        allowed = endpoint.params | (
            SIGNED_EXTRAS if endpoint.security is Security.SIGNED else set()
        )
        unread = set(raw) - allowed
        if unread:
            raise BinanceError(
                -1104,
                "Not all sent parameters were read; read "
                f"'{len(raw) - len(unread)}' parameter(s) but was sent '{len(raw)}'.",
            )
        return Response(200, endpoint.handler(exchange, Params(raw)))
    except BinanceError as error:
        return Response(error.status, error.payload())
