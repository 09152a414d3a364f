"""Backstops on the paper exchange: stop-limit sells, alone or in an OCO with a limit-maker
take-profit, triggered on candles by the fill conventions (``trading_core.fills``).

Per candle, from the first one opening at or after placement:

- stop leg (trigger ``T``, limit ``L``): the candle triggers it when its low reaches ``T``
  (``fills.intrabar_exit``: at ``T``, or at the open when the candle opened below it). It
  fills there, as taker, unless that price is below ``L``: a stop-limit that gaps past its
  limit does not fill, and rests as a limit sell at ``L`` that fills, as maker, on a later
  candle trading through it (``fills.limit_fills``);
- take-profit leg (price ``P``): fills at ``P``, as maker, on a candle trading through it;
- a candle that triggers the stop and reaches the take-profit is a stop (stop-loss first);
  when one leg executes the other expires, and canceling one cancels both.

A working backstop reserves the position, as Binance's lock on the base quantity does: the
paper broker refuses another sell of the symbol until it is canceled.

The executor watches the same candles with its own, tighter levels, and must get the first
chance to act on them (as it would on an exchange, where its exit fires before the price
falls as far as the backstop). So a candle becomes visible to a backstop only at the query
after the one at which it had closed: one tick after the executor could see it. A restored
backstop (after a restart) sees at once every candle since its placement: while the executor
was down, only the backstop was watching.

Fills are timed at their candle's close; trade ids are ``<client order id>-1``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from executor.backstop_levels import ROLE, is_take_leg, leg_base, sorted_legs
from executor.brokers.base import OrderRejected, OrderSnapshot
from executor.orders import OrderState
from executor.records import Fill, OrderRecord
from trading_core.fills import intrabar_exit, limit_fills
from trading_core.market.base import MarketSource
from trading_core.timeframes import timeframe_delta

FillMaker = Callable[[OrderRecord, int, float, float, bool, datetime], Fill]
Snapshotter = Callable[[OrderRecord, OrderState, list[Fill], str | None], OrderSnapshot]


@dataclass
class _Held:
    """One backstop the paper exchange holds (its legs, stop first)."""

    legs: list[OrderRecord]
    checked_until: datetime  # candles opening before this have been evaluated
    visible_until: datetime  # candles closed by this may be evaluated
    queried_at: datetime  # the latest query (or placement): the next one may see up to it
    restored: bool = False  # held again after a restart: the first query sees up to its now
    resting: bool = False  # the stop gapped past its limit: a limit sell at it now
    states: dict[str, OrderState] = field(default_factory=dict)
    fills: dict[str, list[Fill]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return all(s != OrderState.OPEN for s in self.states.values())

    def end(self, leg: OrderRecord, state: OrderState, reason: str) -> None:
        self.states[leg.client_order_id] = state
        self.reasons[leg.client_order_id] = reason

    def expire_others(self, leg: OrderRecord) -> None:
        for other in self.legs:
            if other is not leg:
                self.end(other, OrderState.EXPIRED, f"the other leg {leg.client_order_id} executed")


class PaperStops:
    """The backstops a ``PaperBroker`` holds, by leg client order id."""

    def __init__(
        self,
        market: MarketSource,
        *,
        exchange: str,
        timeframe: str,
        fill: FillMaker,
        snapshot: Snapshotter,
    ):
        self.market = market
        self.exchange = exchange
        self.timeframe = timeframe
        self._fill = fill
        self._snapshot = snapshot
        self._held: dict[str, _Held] = {}

    def holds(self, client_order_id: str) -> bool:
        return client_order_id in self._held

    def locks(self, symbol: str) -> bool:
        """Whether a working backstop reserves ``symbol``'s base quantity (as on Binance)."""
        return any(h.legs[0].symbol == symbol and not h.done for h in self._held.values())

    def place(self, legs: Sequence[OrderRecord], at: datetime, bid: float) -> list[OrderSnapshot]:
        """Hold a backstop; refused, as an exchange would, when it would act at once."""
        trigger = legs[0].stop_price or 0.0
        if bid <= trigger:
            raise OrderRejected(f"stop price {trigger:g} would trigger immediately (bid {bid:g})")
        for leg in legs[1:]:
            if leg.price is not None and leg.price <= bid:
                raise OrderRejected(f"limit-maker sell at {leg.price:g} would take (bid {bid:g})")
        held = _Held(list(legs), checked_until=at, visible_until=at, queried_at=at)
        for leg in legs:
            held.states[leg.client_order_id] = OrderState.OPEN
            self._held[leg.client_order_id] = held
        return [self._snapshot(leg, OrderState.OPEN, [], None) for leg in legs]

    def query(self, order: OrderRecord, now: datetime) -> OrderSnapshot:
        held = self._held[order.client_order_id]
        self._advance(held, now)
        return self._report(held, order)

    def cancel(self, order: OrderRecord) -> OrderSnapshot:
        """Cancel the backstop (both legs of an OCO) unless a query found it executed."""
        held = self._held[order.client_order_id]
        for leg in held.legs:
            if held.states[leg.client_order_id] == OrderState.OPEN:
                held.end(leg, OrderState.CANCELED, "canceled")
        return self._report(held, order)

    def restore(self, orders: list[OrderRecord]) -> None:
        """Hold again the working backstops of the ledger after a restart."""
        groups: dict[str, list[OrderRecord]] = {}
        for order in orders:
            if order.role == ROLE and order.client_order_id not in self._held:
                groups.setdefault(leg_base(order.client_order_id), []).append(order)
        for group in groups.values():
            legs = sorted_legs(group)
            placed = legs[0].submitted_at or legs[0].created_at
            held = _Held(legs, placed, visible_until=placed, queried_at=placed, restored=True)
            for leg in legs:
                held.states[leg.client_order_id] = OrderState.OPEN
                self._held[leg.client_order_id] = held
            if is_take_leg(legs[0].client_order_id):
                # Its stop leg ended first (the OCO executed); a stop leg left alone is
                # resting after its trigger, and finds that trigger again in the candles.
                held.end(legs[0], OrderState.EXPIRED, "the other leg of the OCO executed")

    # ------------------------------------------------------------------------ matching

    def _report(self, held: _Held, order: OrderRecord) -> OrderSnapshot:
        cid = order.client_order_id
        state = held.states[cid]
        if state != OrderState.OPEN:
            del self._held[cid]  # a final answer is given once; the ledger keeps it
        return self._snapshot(order, state, held.fills.get(cid, []), held.reasons.get(cid))

    def _advance(self, held: _Held, now: datetime) -> None:
        if held.restored:  # nobody watched while the executor was down: all is visible
            held.visible_until = held.queried_at = now
            held.restored = False
        elif now > held.queried_at:  # a later tick: what the previous one saw is visible now
            held.visible_until, held.queried_at = held.queried_at, now
        visible = held.visible_until
        if held.done or visible <= held.checked_until:
            return
        step = timeframe_delta(self.timeframe)
        symbol = held.legs[0].symbol
        candles = self.market.fetch_ohlcv(
            self.exchange, symbol, self.timeframe, held.checked_until, visible, now=visible
        )
        for bar in candles.itertuples(index=False):
            closed = bar.ts.to_pydatetime() + step
            self._on_candle(held, float(bar.open), float(bar.high), float(bar.low), closed)
            held.checked_until = closed
            if held.done:
                return

    def _on_candle(self, held: _Held, open_: float, high: float, low: float, at: datetime) -> None:
        stop = held.legs[0]
        take = held.legs[1] if len(held.legs) > 1 else None
        trigger, limit = stop.stop_price, stop.price
        assert trigger is not None and limit is not None  # every stop leg has both
        if held.resting:
            if limit_fills("sell", limit, low, high):
                self._execute(held, stop, limit, maker=True, at=at)
            return
        hit = intrabar_exit("buy", open_, high, low, trigger, None)
        if hit is not None:
            held.expire_others(stop)
            if hit[1] < limit:
                held.resting = True  # gapped past its limit: no fill on this candle
            else:
                self._execute(held, stop, hit[1], maker=False, at=at)
        elif (
            take is not None
            and take.price is not None
            and limit_fills("sell", take.price, low, high)
        ):
            self._execute(held, take, take.price, maker=True, at=at)

    def _execute(
        self, held: _Held, leg: OrderRecord, price: float, *, maker: bool, at: datetime
    ) -> None:
        held.expire_others(leg)
        held.fills[leg.client_order_id] = [self._fill(leg, 1, leg.remaining, price, maker, at)]
        held.end(leg, OrderState.FILLED, f"backstop filled at {price:g}")
