"""Time conversions for text and on-chain sources, in one place.

The warehouse stores naive UTC. Sources hand us three kinds of time:
- aware datetimes (tweepy, feedparser's UTC struct_time, ISO strings with an offset):
  converted to UTC and made naive;
- epoch seconds (Reddit's ``created_utc``, blockchain.com's ``x``): UTC by definition;
- naive *local* wall-clock times (the Reddit scrape's ``created_local``): only
  :func:`local_to_utc` may turn them into UTC, given the zone they were written in.
A naive value reaching :func:`trading_core.timeframes.naive_utc` is taken to be UTC already;
sources whose naive times are not UTC must go through :func:`local_to_utc` first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trading_core.timeframes import TimeLike, naive_utc


def epoch_to_utc(seconds: float) -> datetime:
    """Epoch seconds -> naive UTC."""
    return datetime.fromtimestamp(float(seconds), UTC).replace(tzinfo=None)


def zone(name: str) -> ZoneInfo:
    """An IANA time zone by name, with an error that says what is expected."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; expected an IANA name such as 'UTC' or "
            "'Africa/Casablanca'"
        ) from None


def local_to_utc(local: datetime, source_zone: ZoneInfo) -> datetime:
    """A naive wall-clock time written in ``source_zone`` -> naive UTC.

    Ambiguous times (the repeated hour when clocks go back) resolve to the first
    occurrence (``fold=0``), the usual reading of a wall-clock log.
    """
    if local.tzinfo is not None:
        raise ValueError(f"expected a naive local time, got an aware one: {local.isoformat()}")
    return local.replace(tzinfo=source_zone).astimezone(UTC).replace(tzinfo=None)


def utc_window(start: TimeLike, end: TimeLike) -> tuple[datetime, datetime]:
    """The half-open fetch window ``[start, end)`` in naive UTC; ``start`` must precede ``end``."""
    lo, hi = naive_utc(start), naive_utc(end)
    if lo >= hi:
        raise ValueError(f"empty window: start {lo.isoformat()} is not before end {hi.isoformat()}")
    return lo, hi
