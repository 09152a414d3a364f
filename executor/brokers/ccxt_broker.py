"""The ccxt broker: orders on a real exchange (testnet or live) through any ccxt client.

How exchange errors are classified matters more here than anywhere else:

- Submitting an order is retried ONLY on rate limits (HTTP 429/418): the exchange refused the
  request before processing it, so sending it again cannot create a second order.
- A timeout, a reset connection, a 5xx, an unreadable answer: the order may exist. The submit
  raises ``SubmitOutcomeUnknown`` and the engine resolves it by client order id.
- "Duplicate order" means an order with our client order id already exists: it is fetched
  and adopted, never replaced.
- Any other exchange error (insufficient funds, filter failure, post-only would take, bad
  symbol, auth) is a definitive refusal: ``OrderRejected`` with the exchange's reason.
- Reads (order, trades, balances, books) and cancels are safe to repeat: they are retried on
  every network error, and fail as ``BrokerUnavailable`` when the retries run out.

Client order ids travel as ccxt's unified ``clientOrderId`` parameter (Binance:
``newClientOrderId`` on create, ``origClientOrderId`` on query and cancel).

Fees come as the exchange reports them (Binance spot: a buy pays in the base asset received,
or in BNB). A fee in a third currency gets its ``fee_price`` from the ticker of
``FEE/QUOTE`` (last price, cached for ``FEE_PRICE_TTL_S``); when the exchange lists no such
market or the ticker cannot be read, the fill has no price and the ledger flags it.

The rooms: the client and its retried calls in ``ccxt_calls``, the key checks in ``ccxt_keys``,
the translation into snapshots and fills in ``ccxt_fills``, the account reads in
``ccxt_account``, the native stop orders in ``ccxt_stops``; this module places, queries and
cancels orders.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import ccxt

from executor.backstop_levels import ROLE as BACKSTOP_ROLE
from executor.brokers import ccxt_stops
from executor.brokers.base import (
    BrokerUnavailable,
    OrderRejected,
    OrderSnapshot,
    SubmitOutcomeUnknown,
)
from executor.brokers.ccxt_account import CcxtAccount
from executor.brokers.ccxt_calls import T, error_reason, log
from executor.brokers.ccxt_fills import FEE_PRICE_TTL_S, CcxtFills, order_state
from executor.brokers.ccxt_keys import CcxtKeyChecks, ExchangeSetupError, route_permissions_to
from executor.records import OrderRecord
from executor.secrets import ApiKeys
from executor.sizing import MarketRules
from trading_core.config import FeesConfig
from trading_core.exchanges import REBASE_ALL, create_exchange
from trading_core.retry import RetryError, call_with_retries

__all__ = ["FEE_PRICE_TTL_S", "CcxtBroker", "ExchangeSetupError", "order_state"]

# Refused before processing: safe to send the same order again after waiting.
RATE_LIMITED = (ccxt.RateLimitExceeded, ccxt.DDoSProtection)
# The answer was lost or unreadable (NetworkError: timeouts, resets, 5xx; BadResponse): the
# order may exist.
AMBIGUOUS = (ccxt.OperationFailed,)


class _Duplicate(Exception):
    """The exchange already has this client order id: adopt it, never send it again."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


class CcxtBroker(CcxtKeyChecks, CcxtFills, CcxtAccount):
    reconcilable = True

    @classmethod
    def connect(
        cls,
        exchange_id: str,
        keys: ApiKeys,
        *,
        sandbox: bool,
        fees: FeesConfig,
        base_url: str | None = None,
        timeout_ms: int = 10_000,
    ) -> CcxtBroker:
        """A broker on ``exchange_id`` (its sandbox for testnet) whose keys passed
        ``check_key_permissions``. ``base_url`` rebases every REST endpoint of the client onto
        another host, keeping ccxt's paths. Raises ``ExchangeSetupError`` (unknown exchange,
        no sandbox, keys refused or able to withdraw) or ``BrokerUnavailable`` (unreachable).
        """
        try:
            client = create_exchange(
                exchange_id,
                sandbox=sandbox,
                api_key=keys.api_key,
                secret=keys.secret,
                url_overrides={REBASE_ALL: base_url} if base_url else None,
                timeout_ms=timeout_ms,
                options={"fetchMarkets": {"types": ["spot"]}},
            )
        except ValueError as exc:
            raise ExchangeSetupError(str(exc)) from None
        if base_url and sandbox:
            route_permissions_to(client, base_url)
        broker = cls(client, fees=fees)
        broker.check_key_permissions()
        return broker

    # ---------------------------------------------------------------------------- calls

    # ------------------------------------------------------------------------- metadata

    def market_rules(self, symbol: str) -> MarketRules:
        self._ensure_markets()
        market = self.client.market(symbol)
        precision = market.get("precision", {}).get("amount")
        tick = market.get("precision", {}).get("price")
        if self.client.precisionMode != ccxt.TICK_SIZE:
            precision = 10.0**-precision if precision is not None else None
            tick = 10.0**-tick if tick is not None else None
        limits = market.get("limits", {})
        return MarketRules(
            symbol=symbol,
            amount_step=float(precision) if precision else None,
            price_tick=float(tick) if tick else None,
            min_quantity=float(limits.get("amount", {}).get("min") or 0.0),
            min_notional=float(limits.get("cost", {}).get("min") or 0.0),
            max_quantity=float(limits["amount"]["max"])
            if limits.get("amount", {}).get("max")
            else None,
        )

    def reference_price(self, symbol: str, side: str, at: datetime | None = None) -> float:
        book = self._read("fetch_order_book", lambda: self.client.fetch_order_book(symbol, 5))
        levels = book["asks"] if side == "buy" else book["bids"]
        if not levels:
            raise BrokerUnavailable(f"{self.exchange} {symbol}: empty order book")
        return float(levels[0][0])

    # --------------------------------------------------------------------------- orders

    def submit(self, order: OrderRecord, at: datetime | None = None) -> OrderSnapshot:
        """Place the order once. ``at`` is ignored: an exchange trades now."""
        if order.role == BACKSTOP_ROLE:
            raise OrderRejected("a backstop is placed by place_backstop only (placed afresh)")
        self._ensure_markets()
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        if order.post_only:
            params["postOnly"] = True
        try:
            placed = self._place(
                f"create_order {order.client_order_id}",
                lambda: self.client.create_order(
                    order.symbol,
                    order.order_type,
                    order.side,
                    order.quantity,
                    order.price if order.order_type == "limit" else None,
                    params,
                ),
            )
        except _Duplicate as dup:
            return self._adopt_duplicate(order, dup.error)
        return self.snapshot(order, placed)

    def _place(self, what: str, send: Callable[[], T]) -> T:
        """Send a new order (or order list) once: retried on rate limits only; a lost answer
        is SubmitOutcomeUnknown, a duplicate client id _Duplicate, the rest OrderRejected."""
        try:
            return call_with_retries(
                send,
                self.retry,
                retry_on=lambda exc: isinstance(exc, RATE_LIMITED),
                sleep=self._sleep,
                min_delay=self._retry_after,
                describe=f"{self.exchange} {what}",
            )
        except RetryError as exc:
            raise OrderRejected(f"rate limited on every attempt: {error_reason(exc.last)}") from exc
        except AMBIGUOUS as exc:
            raise SubmitOutcomeUnknown(error_reason(exc)) from exc
        except ccxt.ExchangeError as exc:
            if isinstance(exc, ccxt.DuplicateOrderId) or "Duplicate order" in str(exc):
                raise _Duplicate(exc) from exc
            raise OrderRejected(error_reason(exc)) from exc

    def _adopt_duplicate(self, order: OrderRecord, exc: Exception) -> OrderSnapshot:
        """The exchange already has our client order id: that order is this order."""
        existing = self.query(order)
        if existing is None:
            raise SubmitOutcomeUnknown(
                f"the exchange reports a duplicate of {order.client_order_id} but cannot find "
                f"it: {error_reason(exc)}"
            ) from exc
        log.warning(
            "adopted an existing order with our client order id",
            extra={"order": order.client_order_id},
        )
        return existing

    def query(self, order: OrderRecord, at: datetime | None = None) -> OrderSnapshot | None:
        self._ensure_markets()
        try:
            found = self._read(
                "fetch_order",
                lambda: self.client.fetch_order(
                    order.exchange_order_id,
                    order.symbol,
                    {"clientOrderId": order.client_order_id},
                ),
            )
        except ccxt.OrderNotFound:
            return None
        return self.snapshot(order, found)

    def cancel(self, order: OrderRecord) -> OrderSnapshot:
        self._ensure_markets()
        # Not found: already filled or canceled; the query below says which.
        with contextlib.suppress(ccxt.OrderNotFound):
            self._read(
                "cancel_order",
                lambda: self.client.cancel_order(
                    order.exchange_order_id, order.symbol, {"clientOrderId": order.client_order_id}
                ),
            )
        after = self.query(order)
        if after is None:
            raise BrokerUnavailable(f"{self.exchange} has no order {order.client_order_id}")
        return after

    # -------------------------------------------------------------------------- backstops

    def supports_native_stops(self, symbol: str) -> bool:
        self._ensure_markets()
        return ccxt_stops.native_stops(self.client, symbol)

    def supports_oco(self, symbol: str) -> bool:
        self._ensure_markets()
        return ccxt_stops.oco_allowed(self.client, symbol)

    def place_backstop(
        self, legs: Sequence[OrderRecord], at: datetime | None = None
    ) -> list[OrderSnapshot]:
        """Send the backstop once (``ccxt_stops``), classified as ``submit`` classifies: retried
        on rate limits only, a lost answer unknown, a duplicate adopted, the rest rejected."""
        self._ensure_markets()
        stop = legs[0]
        try:
            placed = self._place(
                f"backstop {stop.client_order_id}",
                lambda: (
                    [ccxt_stops.place_stop_limit(self.client, stop)]
                    if len(legs) == 1
                    else ccxt_stops.place_oco(self.client, stop, legs[1])
                ),
            )
        except _Duplicate as dup:
            return [self._adopt_duplicate(leg, dup.error) for leg in legs]
        return [self.snapshot(leg, found) for leg, found in zip(legs, placed, strict=True)]
