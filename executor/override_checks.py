"""The checks of the operator overrides' inputs (``executor.overrides``): numbers, scales,
risk per trade, durations and times. Pure; ``OverrideError`` names the field and what is
allowed."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from trading_core.timeframes import naive_utc


class OverrideError(ValueError):
    """A command the overrides refuse; the message names the field and what is allowed."""


def finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OverrideError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise OverrideError(f"{name} must be a finite number, got {value!r}")
    return number


def check_scale(value: object, cap: float) -> float:
    scale = finite("scale", value)
    if scale <= 0:
        raise OverrideError(f"scale must be > 0 (a multiple of the tier's risk), got {scale:g}")
    if scale > cap:
        hint = (
            "overrides.allow_above_tier is false: at most 1.0, the tier's limit"
            if cap == 1.0
            else f"at most overrides.max_scale {cap:g}"
        )
        raise OverrideError(f"scale {scale:g} is above the allowed maximum ({hint})")
    return scale


def check_risk_per_trade(value: object, tier_risk: float, cap: float, tier: int) -> float:
    rpt = finite("risk_per_trade", value)
    if not 0 < rpt < 1:
        raise OverrideError(f"risk_per_trade must be a fraction of equity in (0, 1), got {rpt:g}")
    if rpt > tier_risk * cap * (1 + 1e-9):
        raise OverrideError(
            f"risk_per_trade {rpt:g} is above tier {tier}'s limit {tier_risk:g} x {cap:g} "
            "(overrides.allow_above_tier / max_scale)"
        )
    return rpt


_DURATION = re.compile(r"^(\d{1,6}(?:\.\d{1,6})?)([mhd])$")
_UNIT = {"m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: object) -> timedelta:
    """``30m``, ``2h``, ``1.5d``: a positive duration (``OverrideError`` naming the form)."""
    match = _DURATION.match(str(text).strip().lower()) if isinstance(text, str) else None
    if match is None:
        raise OverrideError(
            f"duration must look like 30m, 2h or 1d (minutes, hours, days), got {text!r}"
        )
    amount = float(match.group(1))
    if amount <= 0:
        raise OverrideError(f"duration must be > 0, got {text!r}")
    return timedelta(**{_UNIT[match.group(2)]: amount})


def parse_until(text: object) -> datetime:
    """An ISO date-time (UTC unless it names an offset) as naive UTC."""
    try:
        return naive_utc(str(text))
    except (ValueError, TypeError, OverflowError):
        raise OverrideError(
            f"until must be an ISO date-time such as 2026-12-01T18:00Z, got {text!r}"
        ) from None
