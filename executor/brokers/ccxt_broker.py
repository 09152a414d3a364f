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
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt

from executor.backstop_levels import ROLE as BACKSTOP_ROLE
from executor.brokers import ccxt_stops
from executor.brokers.base import (
    BrokerError,
    BrokerUnavailable,
    OrderRejected,
    OrderSnapshot,
    SubmitOutcomeUnknown,
)
from executor.orders import OrderState
from executor.records import Fill, OrderRecord, OrderUpdate
from executor.secrets import ApiKeys
from executor.sizing import MarketRules
from trading_core.config import FeesConfig
from trading_core.exchanges import REBASE_ALL, create_exchange
from trading_core.retry import RetryError, RetryPolicy, call_with_retries, is_retryable

log = logging.getLogger("executor.ccxt")

T = TypeVar("T")

# ccxt's order status -> our state (partial fills refine "open").
_STATUS: dict[str, OrderState] = {
    "open": OrderState.OPEN,
    "closed": OrderState.FILLED,
    "canceled": OrderState.CANCELED,
    "cancelled": OrderState.CANCELED,
    "expired": OrderState.EXPIRED,
    "rejected": OrderState.REJECTED,
}

TRADES_PAGE = 1000
DAY_MS = 86_400_000
FEE_PRICE_TTL_S = 60.0

# Refused before processing: safe to send the same order again after waiting.
RATE_LIMITED = (ccxt.RateLimitExceeded, ccxt.DDoSProtection)
# The answer was lost or unreadable (NetworkError: timeouts, resets, 5xx; BadResponse): the
# order may exist.
AMBIGUOUS = (ccxt.OperationFailed,)

# Where ccxt can ask the exchange what a key may do: Binance's
# GET /sapi/v1/account/apiRestrictions (the "sapi" API table).
PERMISSIONS_API = "sapi"
PERMISSIONS_CALL = "sapiGetAccountApiRestrictions"


class ExchangeSetupError(BrokerError):
    """The exchange cannot be traded as configured (an unknown exchange id, keys it refuses,
    a key with withdrawal rights): raised by ``connect``; the executor refuses to start."""


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


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _not_served(exc: BaseException) -> bool:
    """The endpoint does not exist there (HTTP 404), e.g. a gateway without the account API."""
    return isinstance(exc, ccxt.ExchangeNotAvailable) and " 404 " in str(exc)


def _route_permissions_to(client: ccxt.Exchange, base_url: str) -> None:
    """ccxt knows no testnet URL for the account API that reports key permissions; a gateway
    or test double standing in for every endpoint of the testnet answers it too."""
    api = client.urls.get("api")
    mainnet = (client.urls.get("apiBackup") or {}).get(PERMISSIONS_API)
    if isinstance(api, dict) and PERMISSIONS_API not in api and isinstance(mainnet, str):
        api[PERMISSIONS_API] = base_url.rstrip("/") + urlsplit(mainnet).path


class _Duplicate(Exception):
    """The exchange already has this client order id: adopt it, never send it again."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


class CcxtBroker:
    reconcilable = True

    def __init__(
        self,
        client: ccxt.Exchange,
        *,
        fees: FeesConfig,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.exchange = client.id
        self.fees = fees
        self.retry = retry or RetryPolicy(max_attempts=5, base_delay=0.25, max_delay=5.0)
        self._sleep = sleep
        self._markets_loaded = False
        self._fee_prices: dict[str, tuple[float, float | None]] = {}

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
            _route_permissions_to(client, base_url)
        broker = cls(client, fees=fees)
        broker.check_key_permissions()
        return broker

    # ---------------------------------------------------------------------------- calls

    def _retry_after(self, exc: BaseException) -> float | None:
        """The wait a rate-limited answer asked for (its Retry-After header), if any."""
        headers = getattr(self.client, "last_response_headers", None) or {}
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    def _read(
        self,
        what: str,
        fn: Callable[[], T],
        retry_on: Callable[[BaseException], bool] = is_retryable,
    ) -> T:
        """A call that is safe to repeat: retried on network errors and rate limits."""
        try:
            return call_with_retries(
                fn,
                self.retry,
                retry_on=retry_on,
                sleep=self._sleep,
                min_delay=self._retry_after,
                describe=f"{self.exchange} {what}",
            )
        except (RetryError, ccxt.BadResponse) as exc:
            raise BrokerUnavailable(f"{self.exchange} {what}: {_reason(exc)}") from exc

    def _authenticated(
        self, what: str, fn: Callable[[], T], retry_on: Callable[[BaseException], bool]
    ) -> T:
        """A signed read at start-up: keys the exchange refuses, or any other definitive
        error, are a setup error; an unreachable exchange is ``BrokerUnavailable``."""
        try:
            return self._read(what, fn, retry_on)
        except ccxt.AuthenticationError as exc:
            raise ExchangeSetupError(
                f"{self.exchange} refused the API key ({_reason(exc)}); check TRADING_API_KEY "
                "and TRADING_API_SECRET: the key must belong to this exchange and mode (testnet "
                "and live keys differ) and allow this machine's IP"
            ) from None
        except ccxt.ExchangeError as exc:
            raise ExchangeSetupError(f"{self.exchange} {what} failed: {_reason(exc)}") from None

    def check_key_permissions(self) -> None:
        """Refuse keys the exchange rejects and keys that can withdraw.

        Where the exchange reports what a key may do (Binance), a key with withdrawal rights
        is refused: the executor never withdraws, so a leaked key must not be able to.
        Elsewhere a warning says the permissions could not be checked, and a balance read
        proves the exchange accepts the keys.
        """
        restrictions = self._key_restrictions()
        withdrawals = (restrictions or {}).get("enableWithdrawals")
        if withdrawals is True:
            raise ExchangeSetupError(
                f"the {self.exchange} API key has withdrawal rights (enableWithdrawals): the "
                "executor never withdraws, so give it a key that can only read and trade"
            )
        if withdrawals is False:
            log.info("API key cannot withdraw", extra={"exchange": self.exchange})
            return
        log.warning(
            "could not check the API key's permissions: the exchange does not report them; "
            "make sure the key cannot withdraw",
            extra={"exchange": self.exchange},
        )
        self._authenticated("fetch_balance", self.client.fetch_balance, is_retryable)

    def _key_restrictions(self) -> dict[str, Any] | None:
        """What the exchange reports the key may do; None where it does not report it."""
        probe = getattr(self.client, PERMISSIONS_CALL, None)
        api = self.client.urls.get("api")
        # ccxt has no URL for it in some modes (Binance's testnet).
        if probe is None or not isinstance(api, dict) or PERMISSIONS_API not in api:
            return None
        try:
            answer = self._authenticated(
                "key permissions", probe, lambda exc: is_retryable(exc) and not _not_served(exc)
            )
        except ccxt.ExchangeNotAvailable:  # a 404, the one network error not retried
            return None
        return answer if isinstance(answer, dict) else None

    def _ensure_markets(self) -> None:
        if not self._markets_loaded:
            self._read("load_markets", self.client.load_markets)
            self._markets_loaded = True

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
            raise OrderRejected(f"rate limited on every attempt: {_reason(exc.last)}") from exc
        except AMBIGUOUS as exc:
            raise SubmitOutcomeUnknown(_reason(exc)) from exc
        except ccxt.ExchangeError as exc:
            if isinstance(exc, ccxt.DuplicateOrderId) or "Duplicate order" in str(exc):
                raise _Duplicate(exc) from exc
            raise OrderRejected(_reason(exc)) from exc

    def _adopt_duplicate(self, order: OrderRecord, exc: Exception) -> OrderSnapshot:
        """The exchange already has our client order id: that order is this order."""
        existing = self.query(order)
        if existing is None:
            raise SubmitOutcomeUnknown(
                f"the exchange reports a duplicate of {order.client_order_id} but cannot find "
                f"it: {_reason(exc)}"
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

    # ----------------------------------------------------------------------- translation

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
            log.warning("no fee price", extra={"symbol": symbol, "error": _reason(exc)})
            return None  # not cached: the next fill asks again
        self._fee_prices[symbol] = (time.monotonic(), price)
        return price

    # -------------------------------------------------------------------- reconciliation

    def order_by_id(self, symbol: str, exchange_order_id: str) -> dict[str, Any] | None:
        """Any order on the account by exchange id (ours or not)."""
        self._ensure_markets()
        try:
            found: dict[str, Any] = self._read(
                "fetch_order", lambda: self.client.fetch_order(exchange_order_id, symbol)
            )
            return found
        except ccxt.OrderNotFound:
            return None

    def open_orders(self, symbol: str) -> list[dict[str, Any]]:
        self._ensure_markets()
        return self._read("fetch_open_orders", lambda: self.client.fetch_open_orders(symbol))

    def trades_since(self, symbol: str, since: datetime | None) -> list[dict[str, Any]]:
        """Our trades from ``since`` (None: the exchange's recent ones), paging forward.

        Binance answers at most 1,000 trades and one day per request, so the window moves
        forward by the last trade's time (or by a day when a day is empty) until now.
        """
        self._ensure_markets()
        if since is None:
            return self._read("fetch_my_trades", lambda: self.client.fetch_my_trades(symbol))
        cursor = int(since.replace(tzinfo=UTC).timestamp() * 1000)
        now = self.client.milliseconds()
        found: dict[str, dict[str, Any]] = {}
        while cursor <= now:
            start = cursor

            def fetch_page(start: int = start) -> list[dict[str, Any]]:
                trades: list[dict[str, Any]] = self.client.fetch_my_trades(
                    symbol, start, TRADES_PAGE
                )
                return trades

            page = self._read("fetch_my_trades", fetch_page)
            for trade in page:
                found[str(trade["id"])] = trade
            if len(page) >= TRADES_PAGE:
                cursor = max(int(page[-1]["timestamp"]), start + 1)
            else:
                cursor = start + DAY_MS
        return sorted(found.values(), key=lambda t: (t["timestamp"], str(t["id"])))

    def balances(self) -> dict[str, tuple[float, float, float]]:
        raw = self._read("fetch_balance", self.client.fetch_balance)
        totals = raw.get("total") or {}
        return {
            cur: (
                float(raw["free"].get(cur) or 0.0),
                float(raw["used"].get(cur) or 0.0),
                float(total or 0.0),
            )
            for cur, total in totals.items()
        }
