"""The ccxt broker's translation: ccxt orders and trades into our snapshots and fills.

``order_state`` maps ccxt's order status onto ours (an open order with fills is partly
filled). Fees come as the exchange reports them; a fee in a third currency gets its
``fee_price`` from the ticker of ``FEE/QUOTE`` (last price, cached for ``FEE_PRICE_TTL_S``),
or none when that market is not listed or its ticker cannot be read (the ledger flags it).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import ccxt

from executor.brokers.base import BrokerUnavailable, OrderSnapshot
from executor.brokers.ccxt_calls import CcxtCalls, error_reason, log
from executor.orders import OrderState
from executor.records import Fill, OrderRecord, OrderUpdate

# ccxt's order status -> our state (partial fills refine "open").
_STATUS: dict[str, OrderState] = {
    "open": OrderState.OPEN,
    "closed": OrderState.FILLED,
    "canceled": OrderState.CANCELED,
    "cancelled": OrderState.CANCELED,
    "expired": OrderState.EXPIRED,
    "rejected": OrderState.REJECTED,
}

FEE_PRICE_TTL_S = 60.0


def order_state(placed: dict[str, Any]) -> OrderState:
    """Our state for a ccxt order structure (an open order with fills is partly filled)."""
    state = _STATUS.get(placed.get("status") or "open", OrderState.OPEN)
    if state == OrderState.OPEN and float(placed.get("filled") or 0.0) > 0:
        return OrderState.PARTIALLY_FILLED
    return state


def _naive_utc_ms(ms: int | None) -> datetime:
    if ms is None:
        return datetime.now(UTC).replace(tzinfo=None)
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


class CcxtFills(CcxtCalls):
    """Order snapshots and fills from ccxt's order and trade structures."""

    def snapshot(self, order: OrderRecord, placed: dict[str, Any]) -> OrderSnapshot:
        filled = float(placed.get("filled") or 0.0)
        status = placed.get("status") or "open"
        state = order_state(placed)
        exchange_id = str(placed["id"]) if placed.get("id") is not None else None
        fills: tuple[Fill, ...] = ()
        if filled > 0 and exchange_id is not None:
            fills = tuple(self.order_fills(order, exchange_id))
        fee = sum(f.fee for f in fills) if fills else None
        update = OrderUpdate(
            state=state,
            exchange_order_id=exchange_id,
            filled_quantity=filled,
            average_price=float(placed["average"]) if placed.get("average") else None,
            fee=fee,
            fee_currency=fills[0].fee_currency if fills else None,
            reason=f"exchange status {status}" if state == OrderState.REJECTED else None,
        )
        return OrderSnapshot(update, fills)

    def order_fills(self, order: OrderRecord, exchange_order_id: str) -> list[Fill]:
        trades = self._read(
            "fetch_my_trades",
            lambda: self.client.fetch_my_trades(
                order.symbol, None, None, {"orderId": exchange_order_id}
            ),
        )
        return [
            self.fill_from_trade(t, order.client_order_id, order.intent_id, order.strategy)
            for t in trades
            if str(t.get("order")) == exchange_order_id
        ]

    def fill_from_trade(
        self,
        trade: dict[str, Any],
        client_order_id: str | None = None,
        intent_id: str | None = None,
        strategy: str | None = None,
    ) -> Fill:
        fee = trade.get("fee") or {}
        symbol = trade["symbol"]
        fee_cost = float(fee.get("cost") or 0.0)
        fee_currency = fee.get("currency")
        base, quote = symbol.split("/", 1)[0], symbol.split("/", 1)[1].split(":", 1)[0]
        third = fee_currency not in (None, base, quote) and fee_cost != 0
        return Fill(
            exchange=self.exchange,
            trade_id=str(trade["id"]),
            symbol=trade["symbol"],
            side=trade["side"],
            quantity=float(trade["amount"]),
            price=float(trade["price"]),
            fee=fee_cost,
            fee_currency=fee_currency,
            liquidity="maker" if trade.get("takerOrMaker") == "maker" else "taker",
            event_time=_naive_utc_ms(trade.get("timestamp")),
            client_order_id=client_order_id,
            exchange_order_id=str(trade.get("order")) if trade.get("order") else None,
            intent_id=intent_id,
            strategy=strategy,
            fee_price=self.fee_price(f"{fee_currency}/{quote}") if third else None,
        )

    def fee_price(self, symbol: str) -> float | None:
        """Last price of ``symbol`` (``FEE/QUOTE``), or None when it is not listed or its
        ticker cannot be read now."""
        cached = self._fee_prices.get(symbol)
        if cached is not None and time.monotonic() - cached[0] < FEE_PRICE_TTL_S:
            return cached[1]
        price: float | None = None
        try:
            self._ensure_markets()
            if symbol in (self.client.markets or {}):
                ticker = self._read("fetch_ticker", lambda: self.client.fetch_ticker(symbol))
                last = ticker.get("last") or ticker.get("close")
                price = float(last) if last and float(last) > 0 else None
        except (BrokerUnavailable, ccxt.BaseError, TypeError, ValueError) as exc:
            log.warning("no fee price", extra={"symbol": symbol, "error": error_reason(exc)})
            return None  # not cached: the next fill asks again
        self._fee_prices[symbol] = (time.monotonic(), price)
        return price
