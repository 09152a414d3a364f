"""Pure planning helpers for candle ingestion: partition windows, incremental fetch windows and
gap reports. No I/O of their own: the source is passed in, the warehouse write is the caller's.

How an ingest asset uses them for one daily partition::

    start, end = partition_window(day)
    fetched = fetch_window(source, exchange, symbol, timeframe, start, end, now, last_stored)
    # validate fetched.frame, then replace the rows with ts in [fetched.fetch_start, end)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from trading_core.market.base import MarketSource
from trading_core.timeframes import floor_time, naive_utc, timeframe_delta


@dataclass(frozen=True)
class Gap:
    """A run of missing candles: open times ``start, start + tf, ...`` before ``end``."""

    start: datetime  # open time of the first missing candle
    end: datetime  # exclusive: start + missing * timeframe
    missing: int

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form for asset metadata."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "missing": self.missing,
        }


def _step(timeframe: str | timedelta) -> timedelta:
    return timeframe if isinstance(timeframe, timedelta) else timeframe_delta(timeframe)


def _sorted_unique(ts: Iterable[datetime] | pd.Series | np.ndarray) -> np.ndarray:
    if isinstance(ts, pd.Series | np.ndarray | pd.DatetimeIndex):
        values = np.asarray(ts)
    else:
        values = np.array([naive_utc(t) for t in ts], dtype="datetime64[us]")
    return np.unique(values.astype("datetime64[us]"))


def find_gaps(
    ts: Iterable[datetime] | pd.Series | np.ndarray,
    timeframe: str | timedelta,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Gap]:
    """Missing candles between the candles present, in time order.

    ``ts`` may be in any order and hold duplicates. With ``start``/``end`` (a half-open window
    of open times) the candles missing before the first and after the last are reported too,
    counted on the grid of the candles present (so any exchange alignment works); an empty
    ``ts`` with a window reports the whole window, counted on the epoch grid.
    """
    step = _step(timeframe)
    step_us = np.timedelta64(int(step.total_seconds() * 1_000_000), "us")
    times = _sorted_unique(ts)
    gaps: list[Gap] = []

    def add(first: np.datetime64, count: int) -> None:
        if count > 0:
            begin = pd.Timestamp(first).to_pydatetime()
            gaps.append(Gap(begin, begin + count * step, count))

    if len(times) == 0:
        if start is not None and end is not None:
            first = pd.Timestamp(naive_utc(start)).ceil(step)
            count = max(0, -(-(naive_utc(end) - first.to_pydatetime()) // step))
            add(np.datetime64(first.to_pydatetime(), "us"), count)
        return gaps
    if start is not None:
        lead = (times[0] - np.datetime64(naive_utc(start), "us")) // step_us
        add(times[0] - lead * step_us, int(lead))
    diffs = np.diff(times)
    for i in np.flatnonzero(diffs > step_us):
        add(times[i] + step_us, int(diffs[i] // step_us) - (0 if diffs[i] % step_us else 1))
    if end is not None:
        room = np.datetime64(naive_utc(end), "us") - times[-1]
        trail = int(-(-room // step_us)) - 1  # candles after the last one that open before end
        add(times[-1] + step_us, trail)
    return gaps


def partition_window(day: date | datetime | str) -> tuple[datetime, datetime]:
    """The half-open UTC window ``[day 00:00, next day 00:00)`` of a daily partition."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    if isinstance(day, datetime):
        day = day.date()
    start = datetime(day.year, day.month, day.day)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class WindowFetch:
    """What a partition run fetched. Replace the stored rows with ``ts`` in
    ``[fetch_start, end)`` by ``frame`` (an incremental run starts after the stored candles)."""

    frame: pd.DataFrame  # as the source returned it (replay keeps file order)
    fetch_start: datetime
    end: datetime
    expected: int  # closed candles the fetched window should hold
    gaps: list[Gap] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return sum(gap.missing for gap in self.gaps)

    @property
    def gap_ratio(self) -> float:
        return self.missing / self.expected if self.expected else 0.0


def incremental_start(
    start: datetime, end: datetime, timeframe: str, last_stored: datetime | None, refetch: int
) -> datetime:
    """Where an incremental run starts: ``refetch`` candles before the next new one, because
    exchanges correct their latest candles late; never outside ``[start, end]``."""
    if refetch < 0:
        raise ValueError(f"refetch must be >= 0, got {refetch}")
    if last_stored is None:
        return start
    resume = naive_utc(last_stored) + timeframe_delta(timeframe) * (1 - refetch)
    return min(max(start, resume), end)


def fetch_window(
    source: MarketSource,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    now: datetime,
    last_stored: datetime | None = None,
    refetch: int = 3,
) -> WindowFetch:
    """Fetch the closed candles of a partition window (from ``last_stored`` minus ``refetch``
    candles when given) and report the candles missing from it. Gaps are reported, never
    filled."""
    start, end, now = naive_utc(start), naive_utc(end), naive_utc(now)
    fetch_start = incremental_start(start, end, timeframe, last_stored, refetch)
    # A candle is closed once ts + tf <= now, i.e. its open time is before floor(now).
    limit = min(end, floor_time(now, timeframe))
    step = timeframe_delta(timeframe)
    first = pd.Timestamp(fetch_start).ceil(step).to_pydatetime()
    expected = max(0, -(-(limit - first) // step)) if limit > first else 0
    frame = source.fetch_ohlcv(exchange, symbol, timeframe, fetch_start, end, now=now)
    in_window = (frame["ts"] >= pd.Timestamp(fetch_start)) & (frame["ts"] < pd.Timestamp(limit))
    frame = frame[in_window].reset_index(drop=True)
    gaps = find_gaps(frame["ts"], timeframe, start=first, end=limit) if limit > first else []
    return WindowFetch(frame=frame, fetch_start=fetch_start, end=end, expected=expected, gaps=gaps)
