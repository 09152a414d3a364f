"""Timeframes and symbol spellings used across the project.

Imported by the configuration, so by every process at start: pandas is imported only by
``naive_utc`` (a refusal or ``--help`` answers without loading it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TimeLike: TypeAlias = "datetime | date | str | pd.Timestamp | np.datetime64"

# ccxt timeframe strings -> seconds (the ones the project supports end to end).
TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
}


def timeframe_seconds(timeframe: str) -> int:
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except KeyError:
        raise ValueError(
            f"unknown timeframe {timeframe!r}; allowed: {list(TIMEFRAME_SECONDS)}"
        ) from None


def timeframe_delta(timeframe: str) -> timedelta:
    return timedelta(seconds=timeframe_seconds(timeframe))


def floor_time(moment: datetime, timeframe: str) -> datetime:
    """Open time of the candle containing ``moment`` (naive UTC in, naive UTC out)."""
    step = timeframe_seconds(timeframe)
    epoch = int(moment.replace(tzinfo=UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, UTC).replace(tzinfo=None)


def naive_utc(value: TimeLike) -> datetime:
    """Any time value as a naive UTC ``datetime``: aware values are converted, naive ones
    (and ISO strings without an offset) are taken as UTC."""
    import pandas as pd  # here, not at the top: the configuration imports this module

    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        raise ValueError(f"not a time: {value!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def utc_now() -> datetime:
    """Naive UTC now: the warehouse stores naive UTC timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


def symbol_to_key(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTC-USDT`` (Dagster partition keys may not contain ``/``)."""
    return symbol.replace("/", "-")


def key_to_symbol(key: str) -> str:
    """``BTC-USDT`` -> ``BTC/USDT``."""
    base, _, quote = key.partition("-")
    if not base or not quote:
        raise ValueError(f"partition key {key!r} is not of the form BASE-QUOTE")
    return f"{base}/{quote}"
