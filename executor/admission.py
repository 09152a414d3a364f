"""Admission of an intent before the risk gate (pure): is it for a market we trade, is it
from a believable time, and is it still fresh?

- ``decided_at`` more than ``clock_skew_seconds`` ahead of the market clock: INVALID.
- A symbol that is not a configured market of the executor's exchange: REJECTED_BY_RISK,
  except a close of a position we hold (exits only reduce exposure).
- An entry older than its age limit on the market clock (default: one bar of its timeframe
  plus ``intent_grace_seconds``), or whose market price moved more than
  ``max_price_deviation`` from its reference price: EXPIRED. An intent without a reference
  price (a manual trade) has no price guard, only the age limit.
- An exit is never expired; a late one is admitted and flagged ``late``.

The age is ``market_now - decided_at`` on the executor's market clock (the wall clock live,
the replayed clock when history is replayed), so a replay is not expired by the wall clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from executor.intents import OrderIntent
from trading_core.config import ExecutorConfig
from trading_core.timeframes import TIMEFRAME_SECONDS


@dataclass(frozen=True)
class IntentLimits:
    max_age_seconds: float | None = None  # None: one bar of the intent's timeframe + grace
    grace_seconds: float = 30.0
    max_price_deviation: float = 0.02
    clock_skew_seconds: float = 5.0

    @classmethod
    def from_config(cls, ex: ExecutorConfig) -> IntentLimits:
        return cls(
            max_age_seconds=ex.max_intent_age_seconds,
            grace_seconds=ex.intent_grace_seconds,
            max_price_deviation=ex.max_price_deviation,
            clock_skew_seconds=ex.clock_skew_seconds,
        )

    def age_limit(self, timeframe: str) -> float:
        """Seconds an entry on this timeframe may wait (a timeframe we do not know, such as a
        manual trade's label, gets the grace alone)."""
        if self.max_age_seconds is not None:
            return self.max_age_seconds
        return TIMEFRAME_SECONDS.get(timeframe, 0) + self.grace_seconds


@dataclass(frozen=True)
class Admission:
    status: str  # "ADMITTED" | "INVALID" | "EXPIRED" | "REJECTED_BY_RISK"
    reason: str
    late: bool = False

    @property
    def admitted(self) -> bool:
        return self.status == "ADMITTED"


def admit(
    intent: OrderIntent,
    *,
    now: datetime,
    price: float | None,
    exchange: str,
    markets: frozenset[str],
    holding: bool,
    limits: IntentLimits,
) -> Admission:
    """Decide whether ``intent`` may go on to the risk gate (see the module docstring)."""
    age = (now - intent.decided_at).total_seconds()
    if -age > limits.clock_skew_seconds:
        return Admission(
            "INVALID",
            f"decided_at {intent.decided_at.isoformat()} is {-age:.0f} s ahead of the market "
            f"clock {now.isoformat()} (clock-skew tolerance {limits.clock_skew_seconds:g} s)",
        )
    exit_ = intent.action == "close"
    if intent.symbol not in markets and not (exit_ and holding):
        listed = ", ".join(sorted(markets)) or "none"
        return Admission(
            "REJECTED_BY_RISK",
            f"{intent.symbol} is not a configured market of exchange {exchange!r} "
            f"(configured: {listed})",
        )
    limit = limits.age_limit(intent.timeframe)
    if exit_:
        if age > limit:
            return Admission("ADMITTED", f"late exit: decided {age:.0f} s ago", late=True)
        return Admission("ADMITTED", "exit")
    if age > limit:
        return Admission(
            "EXPIRED",
            f"entry decided {age:.0f} s ago on the market clock, older than its limit of "
            f"{limit:g} s ({_limit_rule(intent.timeframe, limits)})",
        )
    ref = intent.reference_price
    if ref and price is not None and math.isfinite(price) and price > 0:
        moved = price / ref - 1.0
        if abs(moved) > limits.max_price_deviation:
            return Admission(
                "EXPIRED",
                f"price {price:g} moved {moved:+.2%} from the reference price {ref:g}, beyond "
                f"max_price_deviation {limits.max_price_deviation:.2%}",
            )
    return Admission("ADMITTED", "fresh")


def _limit_rule(timeframe: str, limits: IntentLimits) -> str:
    if limits.max_age_seconds is not None:
        return "max_intent_age_seconds"
    if timeframe in TIMEFRAME_SECONDS:
        return f"one {timeframe} bar + {limits.grace_seconds:g} s grace"
    return f"timeframe {timeframe!r} has no bar length: {limits.grace_seconds:g} s grace"
