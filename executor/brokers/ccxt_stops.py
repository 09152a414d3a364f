"""Backstops through ccxt (``executor.backstop``): what an exchange supports, and the requests.

- A stop-limit sell alone goes through ccxt's unified ``create_order`` with
  ``stopLossPrice`` (Binance spot: ``STOP_LOSS_LIMIT``, good till canceled).
- An OCO is Binance's ``POST /api/v3/orderList/oco`` (ccxt has no unified call for it): a
  ``LIMIT_MAKER`` take-profit above and the ``STOP_LOSS_LIMIT`` below, each leg with its own
  client order id, so both are queried and canceled like any order (canceling one leg cancels
  the list).

Support is read from the market's exchange info where it has it (Binance: ``orderTypes``,
``ocoAllowed``), else from ccxt's ``has`` table.
"""

from __future__ import annotations

from typing import Any

import ccxt

from executor.backstop_levels import list_client_id
from executor.records import OrderRecord


def _info(client: ccxt.Exchange, symbol: str) -> dict[str, Any]:
    return client.market(symbol).get("info") or {}


def native_stops(client: ccxt.Exchange, symbol: str) -> bool:
    order_types = _info(client, symbol).get("orderTypes")
    if order_types is not None:
        return "STOP_LOSS_LIMIT" in order_types
    return bool(client.has.get("createStopLossOrder"))


def oco_allowed(client: ccxt.Exchange, symbol: str) -> bool:
    return bool(_info(client, symbol).get("ocoAllowed")) and hasattr(
        client, "privatePostOrderListOco"
    )


def place_stop_limit(client: ccxt.Exchange, stop: OrderRecord) -> dict[str, Any]:
    """Send the stop-limit sell; returns ccxt's order structure."""
    placed: dict[str, Any] = client.create_order(
        stop.symbol,
        "limit",
        stop.side,
        stop.quantity,
        stop.price,
        {"clientOrderId": stop.client_order_id, "stopLossPrice": stop.stop_price},
    )
    return placed


def place_oco(client: ccxt.Exchange, stop: OrderRecord, take: OrderRecord) -> list[dict[str, Any]]:
    """Send both legs as one OCO; returns ccxt's order structure of each, stop leg first."""
    symbol = stop.symbol
    market = client.market(symbol)

    def price(value: float | None) -> str:
        assert value is not None  # a stop leg has both prices, a take leg its limit
        return str(client.price_to_precision(symbol, value))

    answer = client.privatePostOrderListOco(
        {
            "symbol": market["id"],
            "side": stop.side.upper(),
            "quantity": client.amount_to_precision(symbol, stop.quantity),
            "listClientOrderId": list_client_id(stop.client_order_id),
            "aboveType": "LIMIT_MAKER",
            "abovePrice": price(take.price),
            "aboveClientOrderId": take.client_order_id,
            "belowType": "STOP_LOSS_LIMIT",
            "belowStopPrice": price(stop.stop_price),
            "belowPrice": price(stop.price),
            "belowTimeInForce": "GTC",
            "belowClientOrderId": stop.client_order_id,
        }
    )
    reports = {r.get("clientOrderId"): r for r in answer.get("orderReports") or []}
    return [client.parse_order(reports[leg.client_order_id], market) for leg in (stop, take)]
