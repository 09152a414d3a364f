"""Entry size by the instance's method, always capped by the capital tier.

- **Stop distance**: the strategy's own stop price when it sets one; else, by the instance's
  ``stop`` setting, ``atr_multiple x ATR(atr_period)`` below the price (``atr``) or
  ``stop_loss_pct`` of it (``percent``). Without an ATR value yet (warm-up) the percentage
  stands in, and the reasons say so. The same stop is the position's protective stop.
- **fixed_fraction**: ``position_fraction x`` the instance's equity.
- **risk_based**: ``risk_scale x tier.risk_per_trade x`` instance equity ``/ stop distance``
  (a fraction of the price): the stop, if hit, loses the risk amount (before fees).
- **Tier cap**: never above ``tier.max_position x`` the account's equity.

Pure functions; bad input is a ValueError naming the argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trading_core.config_portfolio import RiskSettings, TierConfig


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


@dataclass(frozen=True)
class Stop:
    price: float
    distance: float  # (entry - stop) / entry, in (0, 1)
    source: str  # "strategy" | "atr" | "percent" | "percent (no ATR yet)"


def stop_for(
    price: float, risk: RiskSettings, *, strategy_stop: float | None, atr: float | None
) -> Stop:
    """The protective stop of a long entered at ``price`` and its distance."""
    entry = _positive("price", price)
    if strategy_stop is not None and not math.isnan(strategy_stop):
        stop = _positive("strategy_stop", strategy_stop)
        if stop >= entry:
            raise ValueError(f"strategy_stop {stop} must be below the entry price {entry}")
        return Stop(stop, 1.0 - stop / entry, "strategy")
    if risk.stop == "atr":
        if atr is not None and math.isfinite(atr) and atr > 0:
            distance = risk.atr_multiple * atr / entry
            if distance < 1.0:
                return Stop(entry * (1.0 - distance), distance, "atr")
            source = "percent (ATR stop below zero)"
        else:
            source = "percent (no ATR yet)"
    else:
        source = "percent"
    return Stop(entry * (1.0 - risk.stop_loss_pct), risk.stop_loss_pct, source)


def raw_notional(risk: RiskSettings, tier: TierConfig, instance_equity: float, stop: Stop) -> float:
    """Quote value the method asks for, before caps and multipliers."""
    capital = _positive("instance_equity", instance_equity)
    if risk.sizing == "fixed_fraction":
        return risk.position_fraction * capital
    risk_amount = risk.risk_scale * tier.risk_per_trade * capital
    return risk_amount / _positive("stop distance", stop.distance)


def tier_cap(tier: TierConfig, account_equity: float) -> float:
    return tier.max_position * _positive("account_equity", account_equity)
