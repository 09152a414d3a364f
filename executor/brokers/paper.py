"""The paper broker: deterministic matching against a market source, with the fill
conventions of ``trading_core.fills`` (the ones the backtester uses; README "Fill conventions").

- Market orders walk the order-book snapshot (``fills.walk_book``); levels beyond
  ``max_slippage_bps`` from the best price are not taken, and the unfilled rest expires (an
  immediate-or-cancel market order). Taker fee.
- Limit orders that cross the book on arrival take liquidity up to their limit price (taker),
  unless post-only, which are rejected instead. The rest rests, and fills at its limit price
  on the first closed candle, opening at or after its placement, that trades through it
  (``fills.limit_fills``). Maker fee. The fill's time is that candle's close: when it is known.
- Protective exits (stop-loss, take-profit, trailing stop) triggered by the executor on a
  candle fill at the conventions' price for that candle (``fills.intrabar_exit``: the level, or
  the open when the candle gapped through it). Taker fee.
- Backstops (``executor.backstop``): stop-limit sells, alone or in an OCO with a
  limit-maker take-profit, held and triggered on candles by ``paper_stops`` (which says how,
  including what a stop-limit that gaps past its limit does: it does not fill).
- Latency shifts the moment the book is read (and the fill time) by ``latency_ms``.
- Time: the book and candles are read at ``at`` (the intent's decision time when the market
  replays history) or now.

Trade ids are ``<client order id>-<n>``, so a fill is the same fill however often it is seen.
Fees are charged in the quote currency by default; ``fee_currency``
(``executor.paper_fee_currency``, ``trading_core.config_fees``) charges them in the asset
received (base on a buy) or in a third currency such as BNB at a fixed price, which each fill
carries as its ``fee_price``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from executor.backstop_levels import ROLE as BACKSTOP_ROLE
from executor.brokers.base import OrderRejected, OrderSnapshot
from executor.brokers.paper_stops import PaperStops
from executor.orders import OrderState
from executor.records import Fill, OrderRecord, OrderUpdate
from executor.sizing import MarketRules, floor_quantity
from trading_core.config import FeesConfig
from trading_core.config_fees import PaperFeeCurrency
from trading_core.fills import intrabar_exit, limit_fills, walk_book
from trading_core.market.base import MarketSource
from trading_core.timeframes import timeframe_delta, utc_now

PROTECTIVE_ROLES: frozenset[str] = frozenset(
    {"stop_loss", "take_profit", "trailing_stop", "atr_stop"}
    | {f"take_profit_{k}" for k in (1, 2, 3)}  # the protocol's tiers (executor.exits)
)


@dataclass
class _Working:
    """A paper order the matcher is still working (resting limit).

    ``fills`` are the ones seen by this process; after a restart the ones before it are
    only known through the ledger's order row (``order.filled_quantity``, ``average_price``,
    ``fee``), which ``_snapshot`` adds back.
    """

    order: OrderRecord
    placed_at: datetime
    fills: list[Fill] = field(default_factory=list)

    @property
    def filled(self) -> float:
        return self.order.filled_quantity + sum(f.quantity for f in self.fills)


def default_paper_rules(symbol: str) -> MarketRules:
    """Binance-like lot precision; the notional limits come from the risk config instead."""
    return MarketRules(symbol=symbol, amount_step=1e-8, price_tick=None)


class PaperBroker:
    reconcilable = False

    def __init__(
        self,
        market: MarketSource,
        *,
        exchange: str,
        fees: FeesConfig,
        latency_ms: float = 0.0,
        book_depth: int = 20,
        candle_timeframe: str = "1m",
        rules: Callable[[str], MarketRules] = default_paper_rules,
        clock: Callable[[], datetime] = utc_now,
        fee_currency: PaperFeeCurrency | None = None,
    ):
        self.market = market
        self.exchange = exchange
        self.fees = fees
        self.fee_currency = fee_currency or PaperFeeCurrency()
        self.latency = timedelta(milliseconds=latency_ms)
        self.book_depth = book_depth
        self.timeframe = candle_timeframe
        self._rules = rules
        self._clock = clock
        self._working: dict[str, _Working] = {}
        self._stops = PaperStops(
            market,
            exchange=exchange,
            timeframe=candle_timeframe,
            fill=self._fill,
            snapshot=self._snapshot,
        )

    # ---------------------------------------------------------------------------- helpers

    def market_rules(self, symbol: str) -> MarketRules:
        return self._rules(symbol)

    def reference_price(self, symbol: str, side: str, at: datetime | None = None) -> float:
        book = self.market.fetch_order_book(self.exchange, symbol, 1, at=at)
        return book.asks[0][0] if side == "buy" else book.bids[0][0]

    def _fill(
        self,
        order: OrderRecord,
        n: int,
        quantity: float,
        price: float,
        maker: bool,
        at: datetime,
    ) -> Fill:
        rate = self.fees.maker if maker else self.fees.taker
        asset = self.fee_currency.asset(order.symbol, order.side)
        third = asset == self.fee_currency.currency and self.fee_currency.price is not None
        return Fill(
            exchange=self.exchange,
            trade_id=f"{order.client_order_id}-{n}",
            symbol=order.symbol,
            side=order.side,
            quantity=quantity,
            price=price,
            fee=self.fee_currency.fee(order.symbol, order.side, quantity, price, rate),
            fee_currency=asset,
            liquidity="maker" if maker else "taker",
            event_time=at,
            client_order_id=order.client_order_id,
            exchange_order_id=order.client_order_id,
            intent_id=order.intent_id,
            strategy=order.strategy,
            fee_price=self.fee_currency.price if third else None,
        )

    @staticmethod
    def _snapshot(
        order: OrderRecord, state: OrderState, fills: list[Fill], reason: str | None = None
    ) -> OrderSnapshot:
        """The order with ``fills`` added to what the ledger already had of it."""
        filled = order.filled_quantity + sum(f.quantity for f in fills)
        notional = order.filled_quantity * (order.average_price or 0.0) + sum(
            f.quantity * f.price for f in fills
        )
        update = OrderUpdate(
            state=state,
            exchange_order_id=order.client_order_id,
            filled_quantity=filled,
            average_price=notional / filled if filled > 0 else None,
            fee=order.fee + sum(f.fee for f in fills),
            fee_currency=fills[0].fee_currency if fills else order.fee_currency,
            reason=reason,
        )
        return OrderSnapshot(update, tuple(fills))

    def _take_book(
        self, order: OrderRecord, at: datetime, limit: float | None
    ) -> tuple[float, float]:
        """(quantity, average price) taken from the book, capped by slippage and ``limit``."""
        book = self.market.fetch_order_book(self.exchange, order.symbol, self.book_depth, at=at)
        levels = book.asks if order.side == "buy" else book.bids
        if limit is not None:
            levels = [
                (p, a) for p, a in levels if (p <= limit if order.side == "buy" else p >= limit)
            ]
        taken = walk_book(order.side, order.remaining, levels, self.fees.max_slippage_bps)
        quantity = floor_quantity(taken.quantity, self.market_rules(order.symbol))
        return quantity, taken.average_price

    # --------------------------------------------------------------------------- protocol

    def submit(self, order: OrderRecord, at: datetime | None = None) -> OrderSnapshot:
        if order.role == BACKSTOP_ROLE:
            raise OrderRejected("a backstop is placed by place_backstop only (placed afresh)")
        if order.side == "sell" and self._stops.locks(order.symbol):
            raise OrderRejected("insufficient balance: a backstop holds the base quantity")
        moment = (at or self._clock()) + self.latency
        if order.role in PROTECTIVE_ROLES and order.stop_price is not None and at is not None:
            return self._protective_exit(order, at)
        if order.order_type == "market":
            quantity, price = self._take_book(order, moment, None)
            if quantity <= 0:
                return self._snapshot(
                    order,
                    OrderState.EXPIRED,
                    [],
                    f"no liquidity within max_slippage_bps {self.fees.max_slippage_bps:g}",
                )
            fills = [self._fill(order, 1, quantity, price, False, moment)]
            if quantity < order.quantity:
                return self._snapshot(
                    order,
                    OrderState.EXPIRED,
                    fills,
                    f"filled {quantity:g} of {order.quantity:g}: the rest lies beyond "
                    f"max_slippage_bps {self.fees.max_slippage_bps:g}",
                )
            return self._snapshot(order, OrderState.FILLED, fills)
        return self._submit_limit(order, moment)

    def _submit_limit(self, order: OrderRecord, moment: datetime) -> OrderSnapshot:
        assert order.price is not None, "a limit order has a price"
        book = self.market.fetch_order_book(self.exchange, order.symbol, 1, at=moment)
        best = book.asks[0][0] if order.side == "buy" else book.bids[0][0]
        crosses = order.price >= best if order.side == "buy" else order.price <= best
        working = _Working(order, moment)
        if crosses and order.post_only:
            raise OrderRejected(
                f"post-only {order.side} at {order.price:g} would take liquidity "
                f"(best {'ask' if order.side == 'buy' else 'bid'} {best:g})"
            )
        if crosses:
            quantity, price = self._take_book(order, moment, order.price)
            if quantity > 0:
                working.fills.append(self._fill(order, 1, quantity, price, False, moment))
        if working.filled >= order.quantity:
            return self._snapshot(order, OrderState.FILLED, working.fills)
        self._working[order.client_order_id] = working
        state = OrderState.PARTIALLY_FILLED if working.fills else OrderState.OPEN
        return self._snapshot(order, state, working.fills)

    def _protective_exit(self, order: OrderRecord, candle_ts: datetime) -> OrderSnapshot:
        step = timeframe_delta(self.timeframe)
        candles = self.market.fetch_ohlcv(
            self.exchange,
            order.symbol,
            self.timeframe,
            candle_ts,
            candle_ts + step,
            now=candle_ts + step,
        )
        if candles.empty:
            raise OrderRejected(f"no {self.timeframe} candle at {candle_ts} to fill the exit at")
        bar = candles.iloc[0]
        take = order.role.startswith("take_profit")
        hit = intrabar_exit(
            "buy" if order.side == "sell" else "sell",
            float(bar.open),
            float(bar.high),
            float(bar.low),
            None if take else order.stop_price,
            order.stop_price if take else None,
        )
        price = hit[1] if hit else float(bar.close)
        fill = self._fill(order, 1, order.quantity, price, False, candle_ts + step)
        return self._snapshot(order, OrderState.FILLED, [fill])

    def query(self, order: OrderRecord, at: datetime | None = None) -> OrderSnapshot | None:
        if self._stops.holds(order.client_order_id):
            return self._stops.query(order, at or self._clock())
        working = self._working.get(order.client_order_id)
        if working is None:
            return None
        now = at or self._clock()
        step = timeframe_delta(self.timeframe)
        candles = self.market.fetch_ohlcv(
            self.exchange, order.symbol, self.timeframe, working.placed_at, now, now=now
        )
        limit = working.order.price
        assert limit is not None
        for bar in candles.itertuples(index=False):
            if limit_fills(order.side, limit, float(bar.low), float(bar.high)):
                remaining = working.order.quantity - working.filled
                when = bar.ts.to_pydatetime() + step
                # Trade 1 is the taker part on arrival (if any), trade 2 the resting fill.
                working.fills.append(self._fill(working.order, 2, remaining, limit, True, when))
                del self._working[order.client_order_id]
                return self._snapshot(working.order, OrderState.FILLED, working.fills)
        state = OrderState.PARTIALLY_FILLED if working.fills else OrderState.OPEN
        return self._snapshot(working.order, state, working.fills)

    def cancel(self, order: OrderRecord) -> OrderSnapshot:
        if self._stops.holds(order.client_order_id):
            return self._stops.cancel(order)
        working = self._working.pop(order.client_order_id, None)
        fills = working.fills if working else []
        return self._snapshot(order, OrderState.CANCELED, fills, "canceled")

    def restore(self, orders: list[OrderRecord]) -> None:
        """Resume resting limit orders and backstops after a restart (the paper book lives
        in memory)."""
        self._stops.restore(orders)
        for order in orders:
            if order.order_type == "limit" and order.state in (
                OrderState.OPEN,
                OrderState.PARTIALLY_FILLED,
            ):
                placed = order.submitted_at or order.created_at
                self._working.setdefault(order.client_order_id, _Working(order, placed))

    # -------------------------------------------------------------------------- backstops

    def supports_native_stops(self, symbol: str) -> bool:
        return True

    def supports_oco(self, symbol: str) -> bool:
        return True

    def place_backstop(
        self, legs: Sequence[OrderRecord], at: datetime | None = None
    ) -> list[OrderSnapshot]:
        bid = self.reference_price(legs[0].symbol, "sell", at)
        return self._stops.place(legs, at or self._clock(), bid)
