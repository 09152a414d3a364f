"""A closed trade as the protocol's rules see it (streaks, locks, adaptive sizing)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Every exit reason a trade can close with (the contract's ``exit_reason``).
EXIT_REASONS: tuple[str, ...] = (
    "stop_loss",
    "atr_stop",
    "time_stop",
    "take_profit",
    "take_profit_1",
    "take_profit_2",
    "take_profit_3",
    "trailing_stop",
    "signal",
    "capital_preservation",
    "force_exit",
    "operator",
)
# Exits that count as stop-losses for the protections (freqtrade counts a trailing stop
# only when it lost money).
STOP_REASONS: frozenset[str] = frozenset({"stop_loss", "atr_stop", "trailing_stop"})


@dataclass(frozen=True)
class ClosedTrade:
    instance: str
    symbol: str
    closed_at: datetime  # naive UTC
    pnl: float  # net, quote
    profit_ratio: float  # pnl / entry value
    exit_reason: str

    def __post_init__(self) -> None:
        for name in ("pnl", "profit_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"closed trade {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"closed trade {name} must be finite, got {value!r}")
        if not isinstance(self.closed_at, datetime):
            raise ValueError(f"closed trade closed_at must be a datetime, got {self.closed_at!r}")

    @property
    def is_stop(self) -> bool:
        if self.exit_reason == "trailing_stop":
            return self.profit_ratio < 0
        return self.exit_reason in STOP_REASONS

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "symbol": self.symbol,
            "closed_at": self.closed_at.isoformat(),
            "pnl": self.pnl,
            "profit_ratio": self.profit_ratio,
            "exit_reason": self.exit_reason,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ClosedTrade:
        return cls(
            str(raw["instance"]),
            str(raw["symbol"]),
            datetime.fromisoformat(raw["closed_at"]),
            float(raw["pnl"]),
            float(raw["profit_ratio"]),
            str(raw["exit_reason"]),
        )
