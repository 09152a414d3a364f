"""Backstop levels and ids, as pure functions (the policy of ``executor.backstop``).

For a long position whose executor stop is ``S`` (the stop-loss, or the trailing level from
the highest price since entry if that is higher) and take-profit ``P``:

- trigger ``S x (1 - margin_pct)``, rounded down to the tick;
- limit ``trigger x (1 - limit_offset_pct)``, rounded down (a stop-limit that gaps below its
  limit does not fill: it rests as a limit sell);
- take-profit leg (OCO only) ``P x (1 + margin_pct)``, rounded up;
- quantity: the position, floored to the lot step. A position too small for the exchange's
  minimums at the limit price gets no backstop, and so does one without a stop (a
  take-profit alone protects nothing).

A resting backstop is replaced only when a level moves by more than ``step_pct`` of itself,
or the quantity by a lot step; ``step_pct`` below ``margin_pct`` keeps it wider than the
executor's stop in between.
"""

from __future__ import annotations

from dataclasses import dataclass

from executor.records import QTY_EPSILON, OrderRecord, Position
from executor.sizing import MarketRules, below_minimum, floor_quantity, round_limit_price
from trading_core.config import TradingConfig
from trading_core.fills import trailing_stop_level

ROLE = "backstop"
STOP_LEG, TAKE_LEG, LIST_SUFFIX = "s", "t", "l"


@dataclass(frozen=True)
class BackstopSettings:
    enabled: bool = True
    margin_pct: float = 0.01
    limit_offset_pct: float = 0.01
    step_pct: float = 0.0025

    def __post_init__(self) -> None:
        if not 0 < self.margin_pct < 1:
            raise ValueError(f"backstop margin_pct must be in (0, 1), got {self.margin_pct}")
        if not 0 <= self.limit_offset_pct < 1:
            raise ValueError(
                f"backstop limit_offset_pct must be in [0, 1), got {self.limit_offset_pct}"
            )
        if not 0 <= self.step_pct < self.margin_pct:
            raise ValueError(
                f"backstop step_pct must be in [0, margin_pct {self.margin_pct}), "
                f"got {self.step_pct}"
            )

    @classmethod
    def from_config(cls, config: TradingConfig) -> BackstopSettings:
        """From ``executor.native_stops`` and ``executor.backstop_*``."""
        ex = config.executor
        return cls(
            enabled=ex.native_stops,
            margin_pct=ex.backstop_margin_pct,
            limit_offset_pct=ex.backstop_limit_offset_pct,
            step_pct=ex.backstop_step_pct,
        )


@dataclass(frozen=True)
class BackstopPlan:
    """The backstop a position should have now."""

    quantity: float
    trigger: float
    limit: float
    take: float | None = None  # the OCO's take-profit leg; None: a stop-limit alone


def executor_stop(position: Position) -> float | None:
    """The stop level the executor watches itself (the higher of stop-loss and trailing)."""
    stop = position.stop_loss
    if position.trailing_stop_pct:
        high = position.high_water or position.avg_entry_price
        trail = trailing_stop_level("buy", high, position.trailing_stop_pct)
        stop = trail if stop is None else max(stop, trail)
    return stop


def plan_backstop(
    position: Position, rules: MarketRules, settings: BackstopSettings, *, oco: bool
) -> BackstopPlan | None:
    """The backstop for ``position`` (None: it should have none)."""
    stop = executor_stop(position)
    if stop is None or position.quantity <= QTY_EPSILON:
        return None
    quantity = floor_quantity(position.quantity, rules)
    trigger = round_limit_price(stop * (1 - settings.margin_pct), "buy", rules)
    limit = round_limit_price(trigger * (1 - settings.limit_offset_pct), "buy", rules)
    if limit <= 0 or below_minimum(quantity, limit, rules):
        return None
    take = None
    if oco and position.take_profit:
        take = round_limit_price(position.take_profit * (1 + settings.margin_pct), "sell", rules)
    return BackstopPlan(quantity, trigger, limit, take)


def replace_reason(
    legs: list[OrderRecord], plan: BackstopPlan | None, rules: MarketRules, step_pct: float
) -> str | None:
    """Why the resting ``legs`` (stop leg first) no longer do for ``plan``; None if they do."""
    if plan is None:
        return "the position no longer has a stop to back"
    broken = _incomplete(legs)
    if broken:
        return broken
    if is_oco_leg(legs[0].client_order_id) and len(legs) < 2:
        return None  # its take-profit leg expired: the stop triggered, and is executing
    stop, take = legs[0], (legs[1] if len(legs) > 1 else None)
    if (take is None) != (plan.take is None):
        return "take-profit leg " + ("added" if take is None else "dropped")
    if abs(stop.remaining - plan.quantity) > max((rules.amount_step or 0.0) / 2, QTY_EPSILON):
        return f"quantity {stop.remaining:g} -> {plan.quantity:g}"
    if _moved(stop.stop_price, plan.trigger, step_pct):
        return f"trigger {stop.stop_price:g} -> {plan.trigger:g}"
    if take is not None and plan.take is not None and _moved(take.price, plan.take, step_pct):
        return f"take-profit {take.price:g} -> {plan.take:g}"
    return None


def _moved(old: float | None, new: float, step_pct: float) -> bool:
    return old is None or abs(new - old) > step_pct * old


# ---------------------------------------------------------------------------------- ids


def leg_ids(base: str, oco: bool) -> tuple[str, ...]:
    """Client order ids of a backstop's legs, stop leg first (``base`` from
    ``client_order_id(source, "backstop", attempt)``, which ends in a digit)."""
    return (base + STOP_LEG, base + TAKE_LEG) if oco else (base,)


def leg_base(client_order_id: str) -> str:
    """The id a leg's backstop was placed under (an OCO's list id is it plus ``l``)."""
    if client_order_id[-1:] in (STOP_LEG, TAKE_LEG) and client_order_id[-2:-1].isdigit():
        return client_order_id[:-1]
    return client_order_id


def list_client_id(client_order_id: str) -> str:
    """The OCO list id of a leg."""
    return leg_base(client_order_id) + LIST_SUFFIX


def is_oco_leg(client_order_id: str) -> bool:
    return leg_base(client_order_id) != client_order_id


def is_take_leg(client_order_id: str) -> bool:
    return is_oco_leg(client_order_id) and client_order_id.endswith(TAKE_LEG)


def sorted_legs(legs: list[OrderRecord]) -> list[OrderRecord]:
    """Backstop legs grouped by backstop, each stop leg before its take-profit leg."""
    return sorted(legs, key=lambda o: (leg_base(o.client_order_id), is_take_leg(o.client_order_id)))


def _incomplete(legs: list[OrderRecord]) -> str | None:
    if len({leg_base(o.client_order_id) for o in legs}) > 1:
        return "more than one backstop is working"
    if is_take_leg(legs[0].client_order_id):
        return "the stop leg of the OCO is no longer working"
    return None
