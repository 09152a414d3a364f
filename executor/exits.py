"""The protocol's exits in the executor: a ledger position's ``ExitPlan`` and its progress,
for ``trading_core.protocol.exits`` - the one function the portfolio backtester also calls.

The plan comes from the ledger alone, so a restart resumes it: the entry price (the
position's average cost), the entry quantity (its entry order's filled quantity), the stop
and its source (the entry order's protocol reasons: ``stop_source`` ``atr`` makes the stop
an ``atr_stop``), the target and the trailing stop the entry attached (``set_protection``),
the tiers and the time stop of ``protocol.exits``. The progress is the quantity still held
and the highest high so far (``high_water``): a tier is done once that high reached its
level, which is how the backtester counts them too.

Each exit is an order whose role is the exit reason (``atr_stop``, ``time_stop``,
``take_profit_1``..``take_profit_3``, ...); the paper broker fills the intrabar ones at the
conventions' price of the candle that triggered them (``stop_price`` is the level), the time
stop at market.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from executor.ledger import Ledger
from executor.records import Position
from executor.sizing import MarketRules
from trading_core.config_protocol import ExitsConfig
from trading_core.protocol import exits

# The roles the protocol's exits use (each also an exit reason of the trades).
PROTOCOL_EXIT_ROLES: frozenset[str] = frozenset(
    {"atr_stop", "time_stop", "take_profit_1", "take_profit_2", "take_profit_3"}
)

# Every role of an order that reduces a position (the engine never sells twice).
EXIT_ROLES: frozenset[str] = (
    frozenset(
        {
            "exit",
            "stop_loss",
            "take_profit",
            "trailing_stop",
            "operator",
            "preservation",
            "force_exit",
        }
    )
    | PROTOCOL_EXIT_ROLES
)


@dataclass(frozen=True)
class Minimums:
    quantity: float
    notional: float


def minimums(rules: MarketRules, config: ExitsConfig) -> Minimums:
    """The exchange's minimum order, or the configuration's when that is higher."""
    return Minimums(
        max(rules.min_quantity, config.min_exit_quantity),
        max(rules.min_notional, config.min_exit_notional),
    )


def _entry(ledger: Ledger, position: Position) -> tuple[float, str | None]:
    """The entry order's filled quantity and the protocol's stop source."""
    if not position.entry_intent_id:
        return 0.0, None
    for order in ledger.orders(intent_id=position.entry_intent_id):
        if order.role != "entry" or order.filled_quantity <= 0:
            continue
        source = None
        text = (order.reason or "").removeprefix("protocol ")
        if text.startswith("{"):
            try:
                source = json.loads(text).get("stop_source")
            except (ValueError, AttributeError):
                source = None
        return order.filled_quantity, source if isinstance(source, str) else None
    return 0.0, None


def plan_for(ledger: Ledger, position: Position, config: ExitsConfig) -> exits.ExitPlan | None:
    """The position's exit plan; None without an entry price or an opening time."""
    if position.avg_entry_price <= 0 or position.opened_at is None:
        return None
    entry_quantity, source = _entry(ledger, position)
    quantity = max(entry_quantity, position.quantity)
    if quantity <= 0:
        return None
    return exits.make_plan(
        position.avg_entry_price,
        quantity,
        position.opened_at,
        stop=position.stop_loss,
        stop_source=source,
        take=position.take_profit,
        trailing_pct=position.trailing_stop_pct,
        config=config,
    )


def watched(plan: exits.ExitPlan) -> bool:
    """Whether the plan has anything to watch."""
    return bool(
        plan.stop or plan.take or plan.trailing_pct or plan.tiers or plan.time_stop is not None
    )
