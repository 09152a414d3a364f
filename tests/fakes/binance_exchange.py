"""The fake exchange's state and rules, with no HTTP: market data, matching, balances.

``FakeExchange`` offers two kinds of methods:
- operations for tests (seed data, move prices, fill orders, read everything back), the same
  set the ``/_admin`` HTTP API exposes for tests in another process;
- ``api_*`` methods that answer the Binance REST endpoints (called by ``binance_api``).

Every method holds one re-entrant lock, so HTTP handler threads and the test thread see a
consistent exchange. Symbols may be given as exchange ids (``BTCUSDT``) or unified
(``BTC/USDT``).

Matching model (documented because tests rely on it):
- The public book is scenery set by ``set_order_book``; taker orders (MARKET, marketable
  LIMIT) consume its levels. Our own resting orders are not shown in it.
- Resting limit orders fill at their own price, as maker, when the market trades *through*
  them (``set_price``, ``trade_through``) or when a test calls ``partial_fill``.
- Stop orders trigger on the last price (``set_price``, ``trade_through``, our own fills).
- OCO lists (``binance_oco``) reserve their quantity once; when one of their two orders
  fills or triggers the other expires, and canceling either cancels both.
- Commission is charged at the maker or taker rate, by default in the quote asset on both
  sides (``commission_asset="quote"``). ``"received"`` charges the asset received, as Binance
  spot does: the base asset on a buy (the account gets ``qty - commission``), the quote on a
  sell. An asset code such as ``"BNB"`` charges that asset, the value's commission divided by
  the asset's price in the quote (``commission_asset_price``, else the fake's reference
  price of e.g. BNBUSDT); without a price or enough free balance of it the fill pays in
  the asset received instead (as Binance does when BNB runs out).
- Trade ids are per symbol (as on Binance) and continue after seeded public trades; order ids
  are unique across symbols.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.fakes.binance_errors import (
    DUPLICATE_ORDER,
    INSUFFICIENT_BALANCE,
    WOULD_TAKE,
    WOULD_TRIGGER,
    BinanceError,
    order_does_not_exist,
    order_rejected,
    unknown_order,
    window_too_long,
)
from tests.fakes.binance_market import (
    DEFAULT_SYMBOLS,
    Book,
    SymbolSpec,
    spot_symbol,
    trades_from_records,
    walk_book,
)
from tests.fakes.binance_market_state import DAY_MS, MarketState
from tests.fakes.binance_oco import NewOrderList, OrderList, check_oco_params
from tests.fakes.binance_trading import (
    LIMIT_PRICED,
    STOP_TYPES,
    Balances,
    MyTrade,
    NewOrder,
    Order,
    check_filters,
    check_order_params,
    crosses,
    stop_triggered,
)
from tests.fakes.binance_values import EIGHT, ZERO, FakeClock, Moment, Number, dec, fmt, to_ms

STATE_VERSION = 1

# What GET /sapi/v1/account/apiRestrictions reports by default: a key that reads and trades
# spot, and nothing else (no withdrawals, transfers, margin or futures).
KEY_PERMISSIONS: dict[str, bool] = {
    "enableReading": True,
    "enableSpotAndMarginTrading": True,
    "enableWithdrawals": False,
    "enableInternalTransfer": False,
    "permitsUniversalTransfer": False,
    "enableMargin": False,
    "enableFutures": False,
    "enableVanillaOptions": False,
}

if TYPE_CHECKING:
    import pandas as pd


class FakeExchange:
    """A Binance spot exchange in memory (see the module docstring for the model)."""

    def __init__(
        self,
        symbols: Iterable[SymbolSpec] = DEFAULT_SYMBOLS,
        balances: dict[str, Number] | None = None,
        maker_commission: Number = "0.001",
        taker_commission: Number = "0.001",
        commission_asset: str = "quote",
        api_key: str = "test",
        secret: str = "test",
        state_path: str | Path | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = FakeClock()
        self.api_key = api_key
        self.secret = secret
        self.market = MarketState(symbols)
        self._orders: dict[int, Order] = {}
        self._my_trades: list[MyTrade] = []
        self._balances = Balances()
        self._next_order_id = 1
        self._order_lists: dict[int, OrderList] = {}
        self._next_order_list_id = 1
        self._maker = dec(maker_commission)
        self._taker = dec(taker_commission)
        self._commission_asset = commission_asset
        self._commission_asset_price: Decimal | None = None
        self._state_path = Path(state_path) if state_path is not None else None
        self._key_permissions = dict(KEY_PERMISSIONS)
        for asset, amount in (balances if balances is not None else {"USDT": 10_000}).items():
            self._balances.set_free(asset, dec(amount))
        if self._state_path is not None and self._state_path.exists():
            self._load(self._state_path)

    # ------------------------------------------------------------------ test operations

    def add_symbol(
        self,
        base: str,
        quote: str,
        tick_size: Number,
        step_size: Number,
        min_notional: Number = "5",
        **overrides: Any,
    ) -> str:
        """List a spot symbol (filters as in ``binance_market.spot_symbol``); returns its id."""
        spec = spot_symbol(base, quote, tick_size, step_size, min_notional, **overrides)
        with self.lock:
            self.market.symbols[spec.symbol] = spec
            self._changed()
        return spec.symbol

    def add_candles(self, symbol: str, interval: str, frame: pd.DataFrame | list[list[Any]]) -> int:
        """Seed klines from a frame in the ../shared/data/market CSV layout, or from rows
        ``[open_ms, open, high, low, close, volume]`` (see ``binance_frames.candle_rows``).
        Candles with the same open time are replaced. Returns the number of candles given."""
        rows = frame if isinstance(frame, list) else _frames().candle_rows(frame)
        with self.lock:
            return self.market.add_candles(self.market.symbol_id(symbol), interval, rows)

    def correct_candle(
        self, symbol: str, interval: str, open_time: Moment, **values: Number
    ) -> None:
        """Change fields (open/high/low/close/volume) of a seeded candle: a late correction
        the exchange publishes after the candle was first served."""
        with self.lock:
            symbol_id = self.market.symbol_id(symbol)
            self.market.correct_candle(symbol_id, interval, to_ms(open_time), values)

    def set_order_book(
        self,
        symbol: str,
        bids: list[tuple[Number, Number]],
        asks: list[tuple[Number, Number]],
    ) -> None:
        """Replace the public book: ``(price, qty)`` levels in any order (a crossed book,
        best bid at or above best ask, is refused: no exchange publishes one)."""
        with self.lock:
            self.market.set_book(self.market.symbol_id(symbol), bids, asks)
            self._changed()

    def add_trades(self, symbol: str, frame: pd.DataFrame | list[dict[str, Any]]) -> int:
        """Seed public trades from a frame in the ../shared/data/orderbooks trades layout
        (``timestamp``, ``trade_id``, ``side``, ``price``, ``amount``) or from records with
        ``time`` in ms instead of ``timestamp`` (see ``binance_frames.trade_records``).
        Ids must rise above the symbol's last trade id. Returns the number added."""
        records = frame if isinstance(frame, list) else _frames().trade_records(frame)
        with self.lock:
            symbol_id = self.market.symbol_id(symbol)
            trades = trades_from_records(records, self.market.next_trade_id(symbol_id))
            self.market.add_trades(symbol_id, trades)
            self._changed()
        return len(trades)

    def set_price(self, symbol: str, price: Number) -> None:
        """The market moves to ``price``: stops trigger, resting limits it passes fill."""
        with self.lock:
            symbol_id = self.market.symbol_id(symbol)
            self._on_market_price(symbol_id, _positive("price", price), volume=None)
            self._changed()

    def trade_through(self, symbol: str, price: Number, qty: Number) -> None:
        """A public trade of ``qty`` at ``price``: resting orders it passes fill at their own
        price, best price then oldest first, up to ``qty`` in total; stops trigger."""
        trade_price, volume = _positive("price", price), _positive("qty", qty)
        with self.lock:
            symbol_id = self.market.symbol_id(symbol)
            now = self.clock.now_ms()
            self.market.record_trade(symbol_id, trade_price, volume, now, buyer_maker=False)
            self._on_market_price(symbol_id, trade_price, volume=volume)
            self._changed()

    def forget_order(self, client_order_id: str, symbol: str | None = None) -> None:
        """The exchange loses an open order (a purge, a wrong account): from now on it is
        unknown (-2013), and what it reserved is free again."""
        with self.lock:
            order = self._open_order_by_client_id(client_order_id, symbol, stops_too=True)
            self._release_lock(order)
            del self._orders[order.order_id]
            self._changed()

    def partial_fill(
        self, client_order_id: str, qty: Number, symbol: str | None = None
    ) -> dict[str, Any]:
        """Fill ``qty`` of an open, working order at its own price (as maker). Returns the
        order as ``GET /api/v3/order`` shows it."""
        with self.lock:
            order = self._open_order_by_client_id(client_order_id, symbol)
            amount = dec(qty)
            if amount <= 0 or amount > order.remaining:
                raise ValueError(
                    f"fill qty {amount} must be > 0 and <= the remaining {order.remaining}"
                )
            self._fill(order, order.price, amount, is_maker=True)
            self._changed()
            return order.query_json()

    def set_balance(self, asset: str, free: Number) -> None:
        """Set the free amount of ``asset`` (locked amounts belong to open orders)."""
        with self.lock:
            self._balances.set_free(asset, dec(free))
            self._changed()

    def set_key_permissions(self, **flags: bool) -> None:
        """Change what ``GET /sapi/v1/account/apiRestrictions`` reports for the accepted key,
        e.g. ``enableWithdrawals=True`` for a key that can withdraw (``KEY_PERMISSIONS``)."""
        unknown = set(flags) - set(KEY_PERMISSIONS)
        if unknown:
            raise ValueError(f"unknown key permissions {sorted(unknown)}; known: {KEY_PERMISSIONS}")
        with self.lock:
            self._key_permissions.update({name: bool(value) for name, value in flags.items()})

    def set_commission(self, maker: Number | None = None, taker: Number | None = None) -> None:
        """Commission rates as fractions of traded value (0.001 = 0.1 %)."""
        with self.lock:
            if maker is not None:
                self._maker = dec(maker)
            if taker is not None:
                self._taker = dec(taker)
            self._changed()

    def set_commission_asset(self, asset: str, price: Number | None = None) -> None:
        """What commission is paid in: ``"quote"`` (default), ``"received"`` (base on a buy,
        quote on a sell) or an asset code such as ``"BNB"``, valued at ``price`` (quote per
        unit; None: the fake's reference price of ASSET+QUOTE)."""
        with self.lock:
            self._commission_asset = asset
            self._commission_asset_price = dec(price) if price is not None else None
            self._changed()

    def set_time(self, moment: Moment) -> None:
        """Freeze the exchange clock (naive datetimes are UTC; ints are ms)."""
        self.clock.set(moment)

    def advance_time(self, ms: int) -> None:
        self.clock.advance(ms)

    def use_wall_clock(self) -> None:
        self.clock.unfreeze()

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Every order ever accepted, oldest first, in the ``GET /api/v3/order`` layout."""
        with self.lock:
            return [o.query_json() for o in self._select_orders(symbol)]

    def order(self, client_order_id: str, symbol: str | None = None) -> dict[str, Any] | None:
        """The latest order with this client order id, or None."""
        with self.lock:
            matches = [
                o for o in self._select_orders(symbol) if o.client_order_id == client_order_id
            ]
            return matches[-1].query_json() if matches else None

    def trades(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Our fills, oldest first, in the ``GET /api/v3/myTrades`` layout."""
        with self.lock:
            symbol_id = None if symbol is None else self.market.symbol_id(symbol)
            return [t.json() for t in self._my_trades if symbol_id in (None, t.symbol)]

    def public_trades(self, symbol: str) -> list[dict[str, Any]]:
        """The public tape, in the ``GET /api/v3/trades`` layout."""
        with self.lock:
            return [t.trade_json() for t in self.market.tape(self.market.symbol_id(symbol)).trades]

    def balances(self) -> dict[str, dict[str, str]]:
        """``{asset: {"free": "...", "locked": "..."}}``."""
        with self.lock:
            return self._balances.json()

    def state(self) -> dict[str, Any]:
        """What ``--state FILE`` persists: orders, own trades, balances, next ids, commission
        rates, and the market's symbols, books and last prices (not klines or the public
        tape: tests seed those)."""
        with self.lock:
            return {
                "version": STATE_VERSION,
                "market": self.market.to_json(),
                "balances": self._balances.to_json(),
                "orders": [o.to_json() for o in self._orders.values()],
                "my_trades": [t.to_json() for t in self._my_trades],
                "next_order_id": self._next_order_id,
                "order_lists": [o.to_json() for o in self._order_lists.values()],
                "next_order_list_id": self._next_order_list_id,
                "commission": {
                    "maker": str(self._maker),
                    "taker": str(self._taker),
                    "asset": self._commission_asset,
                    "asset_price": None
                    if self._commission_asset_price is None
                    else str(self._commission_asset_price),
                },
            }

    # ------------------------------------------------------------- market data endpoints

    def api_exchange_info(self, symbols: list[str] | None) -> dict[str, Any]:
        with self.lock:
            return self.market.exchange_info(symbols, self.clock.now_ms())

    def api_klines(
        self, symbol: str, interval: str, start: int | None, end: int | None, limit: int
    ) -> list[list[Any]]:
        with self.lock:
            return self.market.klines(symbol, interval, start, end, limit, self.clock.now_ms())

    def api_depth(self, symbol: str, limit: int) -> dict[str, Any]:
        with self.lock:
            return self.market.depth(symbol, limit)

    def api_trades(self, symbol: str, limit: int) -> list[dict[str, Any]]:
        with self.lock:
            return self.market.recent_trades(symbol, limit)

    def api_historical_trades(
        self, symbol: str, from_id: int | None, limit: int
    ) -> list[dict[str, Any]]:
        with self.lock:
            return self.market.historical_trades(symbol, from_id, limit)

    def api_agg_trades(
        self,
        symbol: str,
        from_id: int | None,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        with self.lock:
            return self.market.agg_trades(symbol, from_id, start, end, limit)

    def api_ticker_price(self, symbols: list[str] | None) -> list[dict[str, Any]]:
        with self.lock:
            return self.market.ticker_prices(symbols, self.clock.now_ms())

    def api_book_ticker(self, symbols: list[str] | None) -> list[dict[str, Any]]:
        with self.lock:
            return self.market.book_tickers(symbols)

    def api_ticker_24hr(self, symbols: list[str] | None) -> list[dict[str, Any]]:
        with self.lock:
            return self.market.tickers_24hr(symbols, self.clock.now_ms())

    # ----------------------------------------------------------------- trading endpoints

    def api_new_order(self, request: NewOrder) -> dict[str, Any]:
        check_order_params(request)
        with self.lock:
            spec = self.market.spec(request.symbol)
            check_filters(spec, request, self._reference_price(spec.symbol))
            if request.client_order_id is not None and any(
                o.is_open and o.client_order_id == request.client_order_id
                for o in self._select_orders(spec.symbol)
            ):
                raise order_rejected(DUPLICATE_ORDER)
            order, fills = self._place(spec, request)
            self._changed()
            response_type = request.default_response_type
            if response_type == "ACK":
                return order.ack_json()
            body = order.result_json()
            if response_type == "FULL":
                body["fills"] = [f.fill_json() for f in fills]
            return body

    def api_test_order(self, request: NewOrder) -> dict[str, Any]:
        """``POST /api/v3/order/test``: every check of a real order, nothing placed."""
        check_order_params(request)
        with self.lock:
            spec = self.market.spec(request.symbol)
            check_filters(spec, request, self._reference_price(spec.symbol))
        return {}

    def api_query_order(
        self, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> dict[str, Any]:
        with self.lock:
            self.market.spec(symbol)
            order = self._find_order(symbol, order_id, client_order_id)
            if order is None:
                raise order_does_not_exist()
            return order.query_json()

    def api_cancel_order(
        self,
        symbol: str,
        order_id: int | None,
        client_order_id: str | None,
        cancel_client_id: str | None,
    ) -> dict[str, Any]:
        with self.lock:
            self.market.spec(symbol)
            order = self._find_order(symbol, order_id, client_order_id)
            if order is None or not order.is_open:
                raise unknown_order()
            body = self._cancel(order, cancel_client_id)
            for other in self._other_legs(order):  # one order of an OCO cancels both
                if other.is_open:
                    self._cancel(other, None)
            self._changed()
            return body

    def api_cancel_open_orders(self, symbol: str) -> list[dict[str, Any]]:
        """``DELETE /api/v3/openOrders``: every open order of the symbol, at once."""
        with self.lock:
            self.market.spec(symbol)
            open_orders = [o for o in self._select_orders(symbol) if o.is_open]
            if not open_orders:
                raise unknown_order()
            bodies = [self._cancel(order, None) for order in open_orders]
            self._changed()
            return bodies

    def api_new_order_list_oco(self, request: NewOrderList) -> dict[str, Any]:
        """``POST /api/v3/orderList/oco``: both orders on one reservation (``binance_oco``)."""
        with self.lock:
            spec = self.market.spec(request.symbol)
            check_oco_params(request, self.market.last_price.get(spec.symbol))
            legs = [request.leg_request(request.below), request.leg_request(request.above)]
            for leg in legs:
                check_filters(spec, leg, self._reference_price(spec.symbol))
            wanted = {request.list_client_order_id, *(leg.client_order_id for leg in legs)}
            open_orders = [o for o in self._select_orders(spec.symbol) if o.is_open]
            taken = {o.client_order_id for o in open_orders} | {
                self._order_lists[o.order_list_id].list_client_order_id
                for o in open_orders
                if o.order_list_id >= 0
            }
            if (wanted - {None}) & taken:
                raise order_rejected(DUPLICATE_ORDER)
            for leg in legs:
                levels = self.market.book(spec.symbol).side(leg.side)
                if leg.type == "LIMIT_MAKER" and levels:
                    assert leg.price is not None
                    if not _behind(leg.side, leg.price, levels[0][0]):
                        raise order_rejected(WOULD_TAKE)
            lock_amount = max(self._lock_amount(request.side, leg) for leg in legs)
            asset = spec.quote if request.side == "BUY" else spec.base
            if lock_amount > self._balances.free(asset):
                raise order_rejected(INSUFFICIENT_BALANCE)
            now = self.clock.now_ms()
            orders = [
                self._new_order_record(spec, leg, now, working=leg.type not in STOP_TYPES)
                for leg in legs
            ]
            order_list = OrderList(
                order_list_id=self._next_order_list_id,
                list_client_order_id=request.list_client_order_id or _random_client_id(),
                symbol=spec.symbol,
                order_ids=[o.order_id for o in orders],
                transaction_time=now,
            )
            self._next_order_list_id += 1
            self._order_lists[order_list.order_list_id] = order_list
            for order in orders:
                order.order_list_id = order_list.order_list_id
            self._balances.lock(asset, lock_amount)
            orders[0].locked = lock_amount
            self._changed()
            return order_list.json(orders, reports=True)

    def api_query_order_list(
        self, order_list_id: int | None, list_client_order_id: str | None
    ) -> dict[str, Any]:
        with self.lock:
            found = self._find_order_list(None, order_list_id, list_client_order_id)
            if found is None:
                raise order_does_not_exist()
            return found.json(self._list_orders(found))

    def api_cancel_order_list(
        self, symbol: str, order_list_id: int | None, list_client_order_id: str | None
    ) -> dict[str, Any]:
        with self.lock:
            self.market.spec(symbol)
            found = self._find_order_list(symbol, order_list_id, list_client_order_id)
            orders = self._list_orders(found) if found is not None else []
            if found is None or not any(o.is_open for o in orders):
                raise unknown_order()
            for order in orders:
                if order.is_open:
                    self._cancel(order, None)
            self._changed()
            return found.json(orders, reports=True)

    def api_open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        with self.lock:
            if symbol is not None:
                self.market.spec(symbol)
            return [o.query_json() for o in self._select_orders(symbol) if o.is_open]

    def api_all_orders(
        self,
        symbol: str,
        order_id: int | None,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        if start is not None and end is not None and end - start > DAY_MS:
            raise window_too_long(24)
        with self.lock:
            self.market.spec(symbol)
            orders = self._select_orders(symbol)
            if order_id is not None:
                selected = [o for o in orders if o.order_id >= order_id][:limit]
            elif start is not None or end is not None:
                selected = [o for o in orders if _within(o.time, start, end)][:limit]
            else:
                selected = orders[-limit:]
            return [o.query_json() for o in selected]

    def api_my_trades(
        self,
        symbol: str,
        order_id: int | None,
        from_id: int | None,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        if start is not None and end is not None and end - start > DAY_MS:
            raise window_too_long(24)
        with self.lock:
            self.market.spec(symbol)
            trades = [t for t in self._my_trades if t.symbol == symbol]
            if order_id is not None:
                trades = [t for t in trades if t.order_id == order_id]
            if from_id is not None:
                selected = [t for t in trades if t.trade_id >= from_id][:limit]
            elif start is not None or end is not None:
                selected = [t for t in trades if _within(t.time, start, end)][:limit]
            else:
                selected = trades[-limit:]
            return [t.json() for t in selected]

    def api_restrictions(self) -> dict[str, Any]:
        with self.lock:
            return {"ipRestrict": False, "createTime": 1_700_000_000_000, **self._key_permissions}

    def api_account(self, omit_zero: bool) -> dict[str, Any]:
        with self.lock:
            balances = [
                {"asset": asset, **amounts}
                for asset, amounts in self._balances.json().items()
                if not omit_zero or Decimal(amounts["free"]) or Decimal(amounts["locked"])
            ]
            bips = {
                name: int(rate * 10_000)
                for name, rate in (("maker", self._maker), ("taker", self._taker))
            }
            return {
                "makerCommission": bips["maker"],
                "takerCommission": bips["taker"],
                "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {
                    "maker": fmt(self._maker),
                    "taker": fmt(self._taker),
                    "buyer": fmt(ZERO),
                    "seller": fmt(ZERO),
                },
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": self.clock.now_ms(),
                "accountType": "SPOT",
                "balances": balances,
                "permissions": ["SPOT"],
                "uid": 1,
            }

    # ------------------------------------------------------------------------- matching

    def _cancel(self, order: Order, cancel_client_id: str | None) -> dict[str, Any]:
        now = self.clock.now_ms()
        order.status = "CANCELED"
        order.update_time = now
        self._release_lock(order)
        return order.cancel_json(cancel_client_id or _random_client_id(), now)

    def _place(self, spec: SymbolSpec, request: NewOrder) -> tuple[Order, list[MyTrade]]:
        now = self.clock.now_ms()
        book = self.market.book(spec.symbol)
        side = request.side
        if request.type == "MARKET":
            walk = walk_book(
                book.side(side),
                side,
                spec.step_size,
                quantity=request.quantity,
                quote_budget=request.quote_order_qty,
            )
            self._require_funds(spec, side, walk, request.quantity)
            order = self._new_order_record(spec, request, now, working=True)
            if request.quantity is None:
                order.orig_qty = sum((q for _, q in walk), ZERO)
            fills = self._take(order, walk)
            order.status = "FILLED" if walk and order.remaining == 0 else "EXPIRED"
            if request.quote_order_qty is not None and _book_exhausted(book, side, walk):
                order.status = "EXPIRED"
            return order, fills

        assert request.quantity is not None  # check_order_params guarantees it
        if request.type in STOP_TYPES:
            last = self.market.last_price.get(spec.symbol)
            assert request.stop_price is not None
            if last is not None and stop_triggered(request.type, side, request.stop_price, last):
                raise order_rejected(WOULD_TRIGGER)
        if request.type == "LIMIT_MAKER":
            assert request.price is not None
            levels = book.side(side)
            if levels and not _behind(side, request.price, levels[0][0]):
                raise order_rejected(WOULD_TAKE)

        lock_amount = self._lock_amount(side, request)
        asset = spec.quote if side == "BUY" else spec.base
        if lock_amount > self._balances.free(asset):
            raise order_rejected(INSUFFICIENT_BALANCE)
        order = self._new_order_record(spec, request, now, working=request.type not in STOP_TYPES)
        self._balances.lock(asset, lock_amount)
        order.locked = lock_amount
        fills: list[MyTrade] = []
        if request.type == "LIMIT":
            walk = walk_book(
                book.side(side),
                side,
                spec.step_size,
                quantity=order.orig_qty,
                limit_price=order.price,
            )
            taken = sum((q for _, q in walk), ZERO)
            if request.time_in_force == "FOK" and taken < order.orig_qty:
                walk = []
            fills = self._take(order, walk)
            if order.remaining > 0 and request.time_in_force in ("IOC", "FOK"):
                order.status = "EXPIRED"
                self._release_lock(order)
        return order, fills

    def _new_order_record(
        self, spec: SymbolSpec, request: NewOrder, now: int, working: bool
    ) -> Order:
        order = Order(
            symbol=spec.symbol,
            order_id=self._next_order_id,
            client_order_id=request.client_order_id or _random_client_id(),
            side=request.side,
            type=request.type,
            time_in_force=request.time_in_force or "GTC",
            price=request.price or ZERO,
            orig_qty=request.quantity or ZERO,
            stop_price=request.stop_price or ZERO,
            orig_quote_order_qty=request.quote_order_qty or ZERO,
            time=now,
            update_time=now,
            working_time=now if working else -1,
        )
        self._next_order_id += 1
        self._orders[order.order_id] = order
        return order

    def _lock_amount(self, side: str, request: NewOrder) -> Decimal:
        """Funds a resting order reserves: the base quantity for a sell; for a buy the quote
        value at its limit (or stop) price plus the higher commission rate."""
        assert request.quantity is not None
        if side == "SELL":
            return request.quantity
        price = request.price if request.type in LIMIT_PRICED else request.stop_price
        assert price is not None
        return request.quantity * price * (1 + max(self._maker, self._taker))

    def _require_funds(
        self,
        spec: SymbolSpec,
        side: str,
        walk: list[tuple[Decimal, Decimal]],
        quantity: Decimal | None,
    ) -> None:
        """A market order needs the whole cost (buy) or quantity (sell) free up front."""
        if side == "BUY":
            cost = sum((p * q for p, q in walk), ZERO) * (1 + self._taker)
            if cost > self._balances.free(spec.quote):
                raise order_rejected(INSUFFICIENT_BALANCE)
        else:
            needed = quantity if quantity is not None else sum((q for _, q in walk), ZERO)
            if needed > self._balances.free(spec.base):
                raise order_rejected(INSUFFICIENT_BALANCE)

    def _take(self, order: Order, walk: list[tuple[Decimal, Decimal]]) -> list[MyTrade]:
        """Execute ``order`` as taker against the book levels in ``walk``."""
        if not walk:
            return []
        self.market.book(order.symbol).consume(order.side, walk)
        return [self._fill(order, price, qty, is_maker=False) for price, qty in walk]

    def _fill(self, order: Order, price: Decimal, qty: Decimal, is_maker: bool) -> MyTrade:
        self._expire_other_legs(order)
        spec = self.market.symbols[order.symbol]
        now = self.clock.now_ms()
        value = price * qty
        rate = self._maker if is_maker else self._taker
        asset, commission = self._commission(spec, order.side, qty, value, rate)
        if order.side == "BUY":
            self._pay_quote(order, spec, qty, value + (commission if asset == spec.quote else 0))
            self._balances.add_free(spec.base, qty - (commission if asset == spec.base else 0))
        else:
            if order.locked > 0:
                self._balances.spend_locked(spec.base, qty)
                order.locked -= qty
            else:
                self._balances.add_free(spec.base, -qty)
            self._balances.add_free(spec.quote, value - (commission if asset == spec.quote else 0))
        if asset not in (spec.base, spec.quote):
            self._balances.add_free(asset, -commission)
        order.executed_qty += qty
        order.cumm_quote_qty += value
        order.update_time = now
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        if order.status == "FILLED":
            self._release_lock(order)
        is_buyer = order.side == "BUY"
        trade_id = self.market.record_trade(
            order.symbol, price, qty, now, buyer_maker=is_buyer == is_maker
        )
        trade = MyTrade(
            symbol=order.symbol,
            trade_id=trade_id,
            order_id=order.order_id,
            price=price,
            qty=qty,
            commission=commission,
            commission_asset=asset,
            time=now,
            is_buyer=is_buyer,
            is_maker=is_maker,
        )
        self._my_trades.append(trade)
        return trade

    def _commission(
        self, spec: SymbolSpec, side: str, qty: Decimal, value: Decimal, rate: Decimal
    ) -> tuple[str, Decimal]:
        """(asset, amount) of one fill's commission (see the module docstring)."""
        received = spec.base if side == "BUY" else spec.quote
        mode = self._commission_asset
        asset = spec.quote if mode == "quote" else received if mode == "received" else mode
        if asset not in (spec.base, spec.quote):
            price = self._commission_asset_price or self.market.reference_price(
                f"{asset}{spec.quote}", self.clock.now_ms()
            )
            amount = (value * rate / price).quantize(EIGHT) if price else None
            if amount is not None and amount <= self._balances.free(asset):
                return asset, amount
            asset = received
        if asset == spec.base:
            return asset, (qty * rate).quantize(EIGHT)
        return asset, (value * rate).quantize(EIGHT)

    def _pay_quote(self, order: Order, spec: SymbolSpec, qty: Decimal, cost: Decimal) -> None:
        """A buy pays from its reservation (releasing the share reserved for ``qty``) or,
        for a market order, straight from free funds."""
        if order.locked <= 0:
            self._balances.add_free(spec.quote, -cost)
            return
        reserved_price = order.price if order.type in LIMIT_PRICED else order.stop_price
        share = min(order.locked, qty * reserved_price * (1 + max(self._maker, self._taker)))
        self._balances.unlock(spec.quote, share)
        order.locked -= share
        self._balances.add_free(spec.quote, -cost)

    def _release_lock(self, order: Order) -> None:
        if order.locked > 0:
            spec = self.market.symbols[order.symbol]
            asset = spec.quote if order.side == "BUY" else spec.base
            self._balances.unlock(asset, order.locked)
            order.locked = ZERO

    def _on_market_price(self, symbol: str, price: Decimal, volume: Decimal | None) -> None:
        self.market.last_price[symbol] = price
        self._trigger_stops(symbol, price)
        self._fill_resting(symbol, price, volume)

    def _trigger_stops(self, symbol: str, price: Decimal) -> None:
        for order in self._select_orders(symbol):
            if not order.is_open or order.is_working:
                continue
            if not stop_triggered(order.type, order.side, order.stop_price, price):
                continue
            order.working_time = self.clock.now_ms()
            self._expire_other_legs(order)
            spec = self.market.symbols[symbol]
            book = self.market.book(symbol)
            if order.type.endswith("_LIMIT"):
                walk = walk_book(
                    book.side(order.side),
                    order.side,
                    spec.step_size,
                    quantity=order.remaining,
                    limit_price=order.price,
                )
                self._take(order, walk)
            else:
                self._trigger_market_stop(order, spec, book)

    def _trigger_market_stop(self, order: Order, spec: SymbolSpec, book: Book) -> None:
        """A triggered STOP_LOSS / TAKE_PROFIT becomes a market order on free funds."""
        self._release_lock(order)
        walk = walk_book(
            book.side(order.side), order.side, spec.step_size, quantity=order.remaining
        )
        try:
            self._require_funds(spec, order.side, walk, order.remaining)
        except BinanceError:
            walk = []
        self._take(order, walk)
        if order.remaining > 0:
            order.status = "EXPIRED"
            order.update_time = self.clock.now_ms()

    def _fill_resting(self, symbol: str, price: Decimal, volume: Decimal | None) -> None:
        resting = [
            o
            for o in self._select_orders(symbol)
            if o.is_open
            and o.is_working
            and o.type in LIMIT_PRICED
            and crosses(o.side, o.price, price)
        ]
        # Price priority (best bid highest, best ask lowest), then time priority.
        resting.sort(key=lambda o: (-o.price if o.side == "BUY" else o.price, o.order_id))
        left = volume
        for order in resting:
            qty = order.remaining if left is None else min(order.remaining, left)
            if qty <= 0:
                break
            self._fill(order, order.price, qty, is_maker=True)
            if left is not None:
                left -= qty

    def _other_legs(self, order: Order) -> list[Order]:
        """The other order of ``order``'s OCO (none for an order on its own)."""
        found = self._order_lists.get(order.order_list_id)
        if found is None:
            return []
        return [
            self._orders[i] for i in found.order_ids if i != order.order_id and i in self._orders
        ]

    def _expire_other_legs(self, order: Order) -> None:
        """An OCO order executes (fills or triggers): the other one expires, and the list's
        reservation moves to the executing order."""
        for other in self._other_legs(order):
            if other.is_open:
                other.status = "EXPIRED"
                other.update_time = self.clock.now_ms()
                order.locked += other.locked
                other.locked = ZERO

    # -------------------------------------------------------------------------- lookups

    def _reference_price(self, symbol: str) -> Decimal | None:
        return self.market.reference_price(symbol, self.clock.now_ms())

    def _select_orders(self, symbol: str | None) -> list[Order]:
        symbol_id = None if symbol is None else symbol.replace("/", "")
        return [o for o in self._orders.values() if symbol_id in (None, o.symbol)]

    def _find_order(
        self, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> Order | None:
        if order_id is not None:
            order = self._orders.get(order_id)
            return order if order is not None and order.symbol == symbol else None
        matches = [o for o in self._select_orders(symbol) if o.client_order_id == client_order_id]
        return matches[-1] if matches else None

    def _find_order_list(
        self, symbol: str | None, order_list_id: int | None, list_client_order_id: str | None
    ) -> OrderList | None:
        """By id, else the latest list with this client id (of ``symbol``, if given)."""
        lists = [o for o in self._order_lists.values() if symbol in (None, o.symbol)]
        if order_list_id is not None:
            return next((o for o in lists if o.order_list_id == order_list_id), None)
        matches = [o for o in lists if o.list_client_order_id == list_client_order_id]
        return matches[-1] if matches else None

    def _list_orders(self, order_list: OrderList) -> list[Order]:
        return [self._orders[i] for i in order_list.order_ids if i in self._orders]

    def _open_order_by_client_id(
        self, client_order_id: str, symbol: str | None, stops_too: bool = False
    ) -> Order:
        matches = [
            o
            for o in self._select_orders(symbol)
            if o.client_order_id == client_order_id and o.is_open
        ]
        if not matches:
            raise KeyError(f"no open order with client order id {client_order_id!r}")
        if len(matches) > 1:
            raise KeyError(
                f"client order id {client_order_id!r} is open on several symbols; pass symbol"
            )
        if not matches[0].is_working and not stops_too:
            raise ValueError(f"order {client_order_id!r} is a stop order not yet triggered")
        return matches[0]

    # ---------------------------------------------------------------------- persistence

    def _changed(self) -> None:
        """Write the state file (atomically: a crash never leaves half a file)."""
        if self._state_path is None:
            return
        tmp = self._state_path.with_name(self._state_path.name + ".tmp")
        tmp.write_text(json.dumps(self.state(), indent=1))
        os.replace(tmp, self._state_path)

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"{path}: state version {data.get('version')}, need {STATE_VERSION}")
        self.market = MarketState.from_json(data["market"])
        self._balances = Balances.from_json(data["balances"])
        self._orders = {o["order_id"]: Order.from_json(o) for o in data["orders"]}
        self._my_trades = [MyTrade.from_json(t) for t in data["my_trades"]]
        self._next_order_id = data["next_order_id"]
        lists = [OrderList.from_json(o) for o in data.get("order_lists", [])]
        self._order_lists = {o.order_list_id: o for o in lists}
        self._next_order_list_id = data.get("next_order_list_id", 1)
        self._maker = Decimal(data["commission"]["maker"])
        self._taker = Decimal(data["commission"]["taker"])
        self._commission_asset = data["commission"].get("asset", "quote")
        asset_price = data["commission"].get("asset_price")
        self._commission_asset_price = None if asset_price is None else Decimal(asset_price)


def _positive(name: str, value: Number) -> Decimal:
    amount = dec(value)
    if amount <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return amount


def _frames() -> Any:
    """The pandas conversions, imported only when a test hands in a frame: the exchange
    process, fed plain rows over /_admin, starts without importing pandas."""
    from tests.fakes import binance_frames

    return binance_frames


def _random_client_id() -> str:
    # Binance generates 22-character ids of this alphabet when the client sends none.
    return secrets.token_urlsafe(16)[:22]


def _within(moment: int, start: int | None, end: int | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment <= end)


def _behind(side: str, price: Decimal, best_opposite: Decimal) -> bool:
    """A maker-only price that does not reach the opposite best level."""
    return price < best_opposite if side == "BUY" else price > best_opposite


def _book_exhausted(book: Book, side: str, walk: list[tuple[Decimal, Decimal]]) -> bool:
    """After a quote-budget market order consumed ``walk``: did it run out of book?"""
    return not walk or not book.side(side)
