"""The protocol's exits of a long position, bar by bar: one pure function both engines call
(the portfolio backtester on its bars, the executor on its protective candles).

- **Stop**: the entry's protective stop (``stop_loss``; ``atr_stop`` when its distance came
  from the ATR), raised by the instance's ``trailing_stop_pct`` (``trailing_stop``) when
  that trails higher;
- **Take-profit**: the instance's single target (``take_profit``), or with
  ``exits.take_profit.enabled`` the tiers (defaults 30 % of the entry quantity at +5 %,
  30 % at +10 %, 30 % at +20 %: ``take_profit_1``..``take_profit_3``), each a partial
  exit at its level; once the last tier's level is reached what is left trails
  ``exits.take_profit.trailing_pct`` below the highest price (``trailing_stop``);
- **Time stop** (``exits.time_stop``): at a bar's close, once ``hours`` have passed since
  the entry while the close is within ``min_move`` of the entry price (``time_stop``).

Conventions (``trading_core.fills``): intrabar from the bar after the entry; the stop first
when a bar touches the stop and a target; a gap fills at the open, else the level; trailing
levels use the highest high up to the previous bar (no lookahead). Several tiers reached in
one bar each fill, in order, at their own level.

**Quantities**: tier ``k`` sells up to its *cumulative* share of the entry quantity minus
what the tiers already sold. A tier below the exchange minimum (``min_quantity`` or
``min_notional`` at its price) is skipped, so the next tier sells both (the dust rule of
``executor/sizing.py``: a partial exit never goes below the minimum); when what would stay
behind is below the minimum, the exit takes it too. A tier counts as done once the highest
high has reached its level (filled, or merged into the next one), so the state is just the
quantity left and the highest high: the executor derives both from its ledger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from trading_core.config_protocol import ExitsConfig
from trading_core.fills import intrabar_exit, trailing_stop_level

EPS = 1e-12


@dataclass(frozen=True)
class ExitPlan:
    """A position's exit levels, fixed when it opens."""

    entry_price: float
    quantity: float  # the entry quantity
    opened_at: datetime
    stop: float | None
    stop_reason: str = "stop_loss"  # or atr_stop
    take: float | None = None  # the single target (no tiers)
    trailing_pct: float | None = None  # the instance's trailing stop
    tiers: tuple[tuple[float, float], ...] = ()  # (level price, cumulative fraction)
    tier_trailing_pct: float | None = None
    time_stop: tuple[float, float] | None = None  # (hours, min_move)

    def tiers_done(self, highest: float) -> int:
        return sum(1 for level, _ in self.tiers if highest >= level)


@dataclass(frozen=True)
class ExitOrder:
    reason: str
    level: float  # the level that triggered it (the close for a time stop)
    price: float  # the conventions' fill price
    quantity: float
    kind: Literal["stop", "take", "close"]


def make_plan(
    entry_price: float,
    quantity: float,
    opened_at: datetime,
    *,
    stop: float | None,
    stop_source: str | None,
    take: float | None,
    trailing_pct: float | None,
    config: ExitsConfig,
) -> ExitPlan:
    for name, value in (("entry_price", entry_price), ("quantity", quantity)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(f"exit plan: {name} must be a finite number > 0, got {value!r}")
    tp = config.take_profit
    tiers: tuple[tuple[float, float], ...] = ()
    if tp.enabled:
        cumulative, rows = 0.0, []
        for tier in tp.tiers:
            cumulative += tier.fraction
            rows.append((entry_price * (1.0 + tier.gain), min(cumulative, 1.0)))
        tiers = tuple(rows)
    ts = config.time_stop
    return ExitPlan(
        entry_price=entry_price,
        quantity=quantity,
        opened_at=opened_at,
        stop=stop,
        stop_reason="atr_stop" if stop_source == "atr" else "stop_loss",
        take=None if tiers else take,
        trailing_pct=trailing_pct,
        tiers=tiers,
        tier_trailing_pct=tp.trailing_pct if tiers else None,
        time_stop=(ts.hours, ts.min_move) if ts is not None else None,
    )


def _below_minimum(quantity: float, price: float, min_quantity: float, min_notional: float) -> bool:
    return quantity <= EPS or quantity < min_quantity or quantity * price < min_notional


def active_stop(plan: ExitPlan, highest: float) -> tuple[float | None, str]:
    """The stop level in force with the highest high so far, and its exit reason."""
    stop, reason = plan.stop, plan.stop_reason
    trails = [plan.trailing_pct]
    if plan.tiers and plan.tiers_done(highest) == len(plan.tiers):
        trails.append(plan.tier_trailing_pct)
    for pct in trails:
        if pct:
            trail = trailing_stop_level("buy", highest, pct)
            if stop is None or trail > stop:
                stop, reason = trail, "trailing_stop"
    return stop, reason


def intrabar(
    plan: ExitPlan,
    remaining: float,
    highest: float,
    bar: tuple[float, float, float],  # open, high, low
    *,
    min_quantity: float = 0.0,
    min_notional: float = 0.0,
) -> list[ExitOrder]:
    """The exits one bar triggers for a position holding ``remaining`` whose highest high
    up to the previous bar is ``highest``."""
    o, h, low = bar
    if remaining <= EPS:
        return []
    stop, reason = active_stop(plan, highest)
    done = plan.tiers_done(highest)
    target = plan.tiers[done][0] if done < len(plan.tiers) else None
    if not plan.tiers:
        target = plan.take
    hit = intrabar_exit("buy", o, h, low, stop, target)
    if hit is None:
        return []
    if hit[0] == "stop_loss":
        return [ExitOrder(reason, float(stop or 0.0), hit[1], remaining, "stop")]
    if not plan.tiers:
        return [ExitOrder("take_profit", float(target or 0.0), hit[1], remaining, "take")]
    orders: list[ExitOrder] = []
    left = remaining
    for k in range(done, len(plan.tiers)):
        level, cumulative = plan.tiers[k]
        if h < level:
            break
        price = max(o, level)
        sold = plan.quantity - left
        want = min(left, cumulative * plan.quantity - sold)
        if _below_minimum(want, price, min_quantity, min_notional):
            continue  # merged into the next exit
        if _below_minimum(left - want, price, min_quantity, min_notional):
            want = left
        orders.append(ExitOrder(f"take_profit_{k + 1}", level, price, want, "take"))
        left -= want
        if left <= EPS:
            break
    return orders


def at_close(
    plan: ExitPlan, remaining: float, close_time: datetime, close: float
) -> ExitOrder | None:
    """The time stop at a bar's close (``close_time``: the bar's close instant)."""
    if plan.time_stop is None or remaining <= EPS:
        return None
    hours, min_move = plan.time_stop
    if close_time - plan.opened_at < timedelta(hours=hours):
        return None
    if abs(close / plan.entry_price - 1.0) >= min_move:
        return None
    return ExitOrder("time_stop", close, close, remaining, "close")
