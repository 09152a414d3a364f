"""The paper broker under the backtest's fill convention, for ``trading replay``.

``ReplayPaperBroker`` is the paper broker (``executor.brokers.paper``) with the backtester's
bar-level fill model in place of order-book walking, so a replay of history through the live
path fills exactly where ``trading_core.backtest.engine`` does:

- market orders fill in full at the bar close that decided them (``fill="close"``: the order
  arrives at the bar's close time) or at the next bar's open (``fill="next_open"``: the bar
  that opens at that moment), ``slippage_bps`` against the trader, taker fee
  (``trading_core.fills.slipped_price`` / ``fee_amount``). A next-open order with no next bar
  is rejected (the backtester drops it too);
- limit orders rest (they never take liquidity on arrival: the backtester's limit entries
  are for the next bar) and fill at their price on the first closed bar that trades through
  them (the paper broker's ``query`` and ``fills.limit_fills``), maker fee, no slippage;
- protective exits the engine triggers on a bar fill at ``fills.intrabar_exit``'s price for
  that bar (the level, or the open on a gap): a stop-loss or trailing stop with slippage and
  the taker fee, a take-profit at its level with the maker fee, as the backtester does.

Sizing: the live asset's intents are all-in (``OrderIntent.notional_includes_fee``), so the
engine sizes an entry as the backtester does, ``notional / (price * (1 + fee))`` with the
taker fee at the market price (the reference price here: where the order fills) and the
maker fee at a limit. Quantities are not floored (no lot step), as in a backtest.

``bar_of_order`` maps each filled order's client order id to the open time of the bar the
backtester books the fill on (a close or intrabar fill: that bar; a next-open fill: the bar it
opens), so a replay's trade table uses the backtester's timestamps.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from executor.brokers.base import OrderRejected, OrderSnapshot
from executor.brokers.paper import PROTECTIVE_ROLES, PaperBroker, _Working
from executor.orders import OrderState
from executor.records import OrderRecord
from executor.sizing import MarketRules
from trading_core.config import FeesConfig
from trading_core.fills import FILL_PRICES, Side, intrabar_exit, slipped_price
from trading_core.market.base import MarketSource
from trading_core.timeframes import timeframe_delta


@dataclass(frozen=True)
class BarSeries:
    """One series' bars as plain lists (oldest first): the fill model's view of the market."""

    ts: Sequence[datetime]
    open: Sequence[float]
    high: Sequence[float]
    low: Sequence[float]
    close: Sequence[float]

    def index(self, ts: datetime) -> int | None:
        """The position of the bar opening at ``ts``, or None."""
        i = bisect.bisect_left(self.ts, ts)
        return i if i < len(self.ts) and self.ts[i] == ts else None


@dataclass(frozen=True)
class BarFillModel:
    """Where a market order arriving at a moment fills, under one fill convention."""

    bars: BarSeries
    timeframe: str
    fill: str = "close"
    taker_fee: float = 0.001
    maker_fee: float = 0.001
    slippage_bps: float = 0.0

    def __post_init__(self) -> None:
        if self.fill not in FILL_PRICES:
            raise ValueError(f"fill {self.fill!r} is not allowed; allowed: {FILL_PRICES}")
        for name in ("taker_fee", "maker_fee", "slippage_bps"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def step(self) -> timedelta:
        return timeframe_delta(self.timeframe)

    def market_bar(self, at: datetime) -> tuple[datetime, float] | None:
        """(open time of the bar the fill is booked on, unslipped price) for a market order
        arriving at ``at``: the close of the bar closing then, or the open of the next bar."""
        if self.fill == "close":
            i = self.bars.index(at - self.step)
            return None if i is None else (self.bars.ts[i], self.bars.close[i])
        i = self.bars.index(at)
        return None if i is None else (self.bars.ts[i], self.bars.open[i])

    def market_price(self, side: Side, at: datetime) -> tuple[datetime, float]:
        found = self.market_bar(at)
        if found is None:
            where = "closing" if self.fill == "close" else "opening"
            raise OrderRejected(f"no bar {where} at {at.isoformat()} to fill a market order at")
        bar_ts, price = found
        return bar_ts, slipped_price(side, price, self.slippage_bps)

    def fees(self) -> FeesConfig:
        return FeesConfig(
            maker=self.maker_fee,
            taker=self.taker_fee,
            slippage_bps=self.slippage_bps,
            max_slippage_bps=0.0,
        )


def unlimited_rules(symbol: str) -> MarketRules:
    """No lot step, no minimum: a backtest trades any quantity."""
    return MarketRules(symbol=symbol)


class ReplayPaperBroker(PaperBroker):
    """The paper broker filling on bars with ``BarFillModel`` (module docstring)."""

    def __init__(
        self,
        market: MarketSource,
        model: BarFillModel,
        *,
        exchange: str,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(
            market,
            exchange=exchange,
            fees=model.fees(),
            candle_timeframe=model.timeframe,
            rules=unlimited_rules,
            clock=clock,
        )
        self.model = model
        self.bar_of_order: dict[str, datetime] = {}

    def reference_price(self, symbol: str, side: str, at: datetime | None = None) -> float:
        """Where a market order sent now fills (the engine sizes an entry at it)."""
        moment = at or self._clock()
        return self.model.market_price("buy" if side == "buy" else "sell", moment)[1]

    def submit(self, order: OrderRecord, at: datetime | None = None) -> OrderSnapshot:
        protective = order.role in PROTECTIVE_ROLES and order.stop_price is not None
        if order.order_type != "market" or (protective and at is not None):
            return super().submit(order, at)  # limits rest; protective exits: below
        moment = at or self._clock()
        bar_ts, price = self.model.market_price(order.side, moment)
        fill = self._fill(order, 1, order.remaining, price, False, moment)
        self.bar_of_order[order.client_order_id] = bar_ts
        return self._snapshot(order, OrderState.FILLED, [fill])

    def _submit_limit(self, order: OrderRecord, moment: datetime) -> OrderSnapshot:
        # Rests for the bars after its decision; never takes liquidity on arrival.
        self._working[order.client_order_id] = _Working(order, moment)
        return self._snapshot(order, OrderState.OPEN, [])

    def query(self, order: OrderRecord, at: datetime | None = None) -> OrderSnapshot | None:
        snapshot = super().query(order, at)
        if snapshot is not None and snapshot.fills and snapshot.update.state == OrderState.FILLED:
            # The resting fill is stamped at the close of the bar that traded through it.
            last = snapshot.fills[-1].event_time
            self.bar_of_order.setdefault(order.client_order_id, last - self.model.step)
        return snapshot

    def _protective_exit(self, order: OrderRecord, candle_ts: datetime) -> OrderSnapshot:
        i = self.model.bars.index(candle_ts)
        if i is None:
            raise OrderRejected(f"no {self.model.timeframe} bar at {candle_ts} to fill the exit at")
        bars = self.model.bars
        take = order.role == "take_profit"
        hit = intrabar_exit(
            "buy",
            bars.open[i],
            bars.high[i],
            bars.low[i],
            None if take else order.stop_price,
            order.stop_price if take else None,
        )
        if hit is None:
            raise OrderRejected(f"bar {candle_ts} does not reach {order.role} {order.stop_price}")
        level = hit[1]
        price = level if take else slipped_price("sell", level, self.model.slippage_bps)
        fill = self._fill(order, 1, order.quantity, price, take, candle_ts + self.model.step)
        self.bar_of_order[order.client_order_id] = candle_ts
        return self._snapshot(order, OrderState.FILLED, [fill])
