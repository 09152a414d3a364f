"""What a gap in a candle series is, and which gaps block a partition: the one place.

A gap is a run of consecutive missing candles of one series (``exchange|symbol|timeframe``) on
the epoch grid of its timeframe (``trading_core.market.ingest.find_gaps``, which the ccxt
source also uses to re-request each gap window once before anything is reported; replay
reports the files' gaps as they are). Every gap is reported with its series, the open time of
its first missing candle and its length. A gap blocks its partition (the partition stays out
of the signals) only when

- it is longer than ``max_gap_candles`` consecutive candles of its series, or
- its series misses more than ``max_gap_ratio`` of one UTC day's candles (24 for 1h, 1 for
  1d). The share is of the whole day, so a day in progress is not blocked by one late
  candle, and a missing daily candle is its whole day.

Exactly at a limit is allowed. A gap crossing a window edge (midnight) is measured over its
whole run as far as the candles given beyond the edge show (``searched``; ``GapPolicy.reach``
candles are enough to decide): an outage from 20:00 to 04:00 is one gap of 8 candles seen
from both days, and each day counts its own share.

The defaults fit the real Binance history of ../shared/data/market: XRPUSDT 1h has 25 gaps
(88 candles), the longest 10 candles and at most 10 of one day's 24, so every real 1h and 1d
file passes with warnings; half a day missing, or a run of 13 candles, blocks.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from trading_core.market.ingest import find_gaps
from trading_core.quality.limits import DEFAULT_MAX_GAP_CANDLES as DEFAULT_MAX_GAP_CANDLES
from trading_core.quality.limits import DEFAULT_MAX_GAP_RATIO as DEFAULT_MAX_GAP_RATIO
from trading_core.timeframes import floor_time, naive_utc, timeframe_delta

MAX_LISTED_GAPS = 100  # gaps listed per check result; the counts always cover all of them
DAY = timedelta(days=1)


@dataclass(frozen=True)
class GapPolicy:
    """The limits above which a gap blocks its partition (see the module doc)."""

    max_gap_candles: int = DEFAULT_MAX_GAP_CANDLES
    max_gap_ratio: float = DEFAULT_MAX_GAP_RATIO

    def __post_init__(self) -> None:
        if isinstance(self.max_gap_candles, bool) or not isinstance(self.max_gap_candles, int):
            raise ValueError(f"max_gap_candles must be an integer, got {self.max_gap_candles!r}")
        if self.max_gap_candles < 0:
            raise ValueError(f"max_gap_candles must be >= 0, got {self.max_gap_candles}")
        if not 0 <= self.max_gap_ratio <= 1:  # NaN fails too
            raise ValueError(f"max_gap_ratio must be within [0, 1], got {self.max_gap_ratio}")

    def reach(self, timeframe: str) -> timedelta:
        """How far beyond a window edge to look at a gap crossing it: one candle more than the
        longest gap allowed, so whether it blocks is always known."""
        return (self.max_gap_candles + 1) * timeframe_delta(timeframe)


def candles_per_day(timeframe: str) -> int:
    """Candles of one UTC day: the denominator of ``max_gap_ratio`` (1 for 1d)."""
    return max(1, DAY // timeframe_delta(timeframe))


@dataclass(frozen=True)
class SeriesGap:
    """A run of consecutive missing candles of one series."""

    series: str  # exchange|symbol|timeframe
    start: datetime  # open time of the first missing candle (the day before, across midnight)
    missing: int  # candles of the whole run, as far as the searched range shows
    in_window: int  # of which inside the window assessed
    step: timedelta
    # the run fills the searched range beyond an edge: it is at least this long
    open_ended: bool = False

    @property
    def end(self) -> datetime:
        """Exclusive: the open time of the first candle present again."""
        return self.start + self.missing * self.step

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for asset metadata."""
        return {
            "series": self.series,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "missing": self.missing,
        }


@dataclass(frozen=True)
class Breach:
    """One limit a series broke: a run too long, too much of one day missing, or (for a
    window whose series are unknown) no candle at all."""

    series: str
    rule: Literal["max_gap_candles", "max_gap_ratio", "no_candles"]
    at: str  # ISO open time of the run's first missing candle, or the UTC day
    missing: int
    limit: float
    of: int = 0  # candles of that day (max_gap_ratio only)
    open_ended: bool = False  # the run goes on beyond what was looked up

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for asset metadata, with the sentence that explains it."""
        return {**asdict(self), "reason": str(self)}

    def __str__(self) -> str:
        if self.rule == "no_candles":
            return f"no candle at all in the window from {self.at}"
        if self.rule == "max_gap_candles":
            least = "at least " if self.open_ended else ""
            return (
                f"{self.series}: {least}{self.missing} consecutive candles missing from "
                f"{self.at} (max_gap_candles {self.limit:g})"
            )
        return (
            f"{self.series}: {self.missing} of {self.of} candles of {self.at} missing "
            f"(share {self.missing / self.of:.3f} > max_gap_ratio {self.limit:g})"
        )


@dataclass(frozen=True)
class GapReport:
    """The gaps of a window (one or more series) and whether they block it."""

    gaps: tuple[SeriesGap, ...] = ()  # every gap with a missing candle in the window
    expected: int = 0  # closed candles the window should hold, every series
    missing: int = 0  # of which missing (inside the window only)
    worst_day_share: float = 0.0  # the largest share of one series-day missing
    breaches: tuple[Breach, ...] = ()  # empty: the window is not blocked

    @property
    def blocks(self) -> bool:
        return bool(self.breaches)

    @property
    def longest(self) -> int:
        return max((gap.missing for gap in self.gaps), default=0)


def merge_reports(reports: Iterable[GapReport]) -> GapReport:
    """One report for a window from the reports of its series."""
    parts = list(reports)
    return GapReport(
        gaps=tuple(gap for part in parts for gap in part.gaps),
        expected=sum(part.expected for part in parts),
        missing=sum(part.missing for part in parts),
        worst_day_share=max((part.worst_day_share for part in parts), default=0.0),
        breaches=tuple(breach for part in parts for breach in part.breaches),
    )


def _on_grid(present: Iterable[datetime] | pd.Series | np.ndarray, step: timedelta) -> np.ndarray:
    """Sorted unique open times on the timeframe's epoch grid (others are not candles of the
    grid: ``ohlcv_aligned_ts`` reports them); unparseable values are dropped."""
    if isinstance(present, pd.Series | np.ndarray | pd.DatetimeIndex):
        values = pd.to_datetime(pd.Series(np.asarray(present)), errors="coerce", utc=True)
    else:
        values = pd.to_datetime(pd.Series(list(present), dtype=object), errors="coerce", utc=True)
    times = values.dropna().dt.tz_convert(None).to_numpy().astype("datetime64[us]")
    step_us = int(step.total_seconds() * 1_000_000)
    times = times[times.astype("int64") % step_us == 0]
    return np.unique(times)


def _count(first: datetime, step: timedelta, bound: datetime) -> int:
    """Grid steps from ``first`` that open before ``bound`` (0 when none)."""
    return max(0, math.ceil((bound - first) / step))


def assess_series(
    series: str,
    timeframe: str,
    present: Iterable[datetime] | pd.Series | np.ndarray,
    policy: GapPolicy,
    *,
    window: tuple[datetime, datetime] | None = None,
    now: datetime | None = None,
    searched: tuple[datetime, datetime] | None = None,
) -> GapReport:
    """The gaps of one series in ``window`` (half-open open times, up to the last candle
    closed at ``now``), and the limits they break.

    ``present``: the series' open times (any order, duplicates and off-grid values ignored),
    including any candles known beyond the window's edges; ``searched``: the range those
    cover (default the window), so a gap crossing an edge is measured over its whole run.
    Without a window, the gaps between the first and the last candle present.
    """
    step = timeframe_delta(timeframe)
    times = _on_grid(present, step)
    if window is None:
        if not len(times):
            return GapReport()
        start = pd.Timestamp(times[0]).to_pydatetime()
        limit = pd.Timestamp(times[-1]).to_pydatetime() + step
    else:
        start, limit = naive_utc(window[0]), naive_utc(window[1])
    closed = floor_time(naive_utc(now), timeframe) if now is not None else None
    if closed is not None:
        limit = min(limit, closed)
    first = pd.Timestamp(start).ceil(step).to_pydatetime()
    if limit <= first:
        return GapReport()
    lo, hi = start, limit
    if searched is not None:
        lo, hi = min(lo, naive_utc(searched[0])), max(hi, naive_utc(searched[1]))
        hi = hi if closed is None else min(hi, closed)
    inside = times[(times >= np.datetime64(lo, "us")) & (times < np.datetime64(hi, "us"))]
    gaps: list[SeriesGap] = []
    per_day: Counter[date] = Counter()
    for run in find_gaps(inside, step, start=lo, end=hi):
        # the run's candles from index a (first in the window) to b (first after it)
        a, b = _count(run.start, step, start), min(run.missing, _count(run.start, step, limit))
        if b <= a:
            continue
        open_ended = (lo < start and run.start <= lo) or (hi > limit and run.end >= hi)
        gaps.append(SeriesGap(series, run.start, run.missing, b - a, step, open_ended))
        opens = np.datetime64(run.start, "us") + np.arange(a, b) * np.timedelta64(step)
        days, counts = np.unique(opens.astype("datetime64[D]"), return_counts=True)
        per_day.update(
            {pd.Timestamp(day).date(): int(n) for day, n in zip(days, counts, strict=True)}
        )
    per = candles_per_day(timeframe)
    breaches = [
        Breach(
            series,
            "max_gap_candles",
            gap.start.isoformat(),
            gap.missing,
            policy.max_gap_candles,
            open_ended=gap.open_ended,
        )
        for gap in gaps
        if gap.missing > policy.max_gap_candles
    ] + [
        Breach(series, "max_gap_ratio", day.isoformat(), n, policy.max_gap_ratio, per)
        for day, n in sorted(per_day.items())
        if n / per > policy.max_gap_ratio
    ]
    return GapReport(
        gaps=tuple(gaps),
        expected=_count(first, step, limit),
        missing=sum(per_day.values()),
        worst_day_share=max(per_day.values(), default=0) / per,
        breaches=tuple(breaches),
    )


def assess_frame(
    frame: pd.DataFrame,
    policy: GapPolicy,
    keys: Sequence[str],
    *,
    window: tuple[datetime, datetime] | None = None,
    now: datetime | None = None,
) -> GapReport:
    """``assess_series`` for every series of ``frame`` (grouped by ``keys``, the last of them
    the timeframe; series of an unknown timeframe are another check's). A frame without any
    candle blocks a window that has fully closed: which series it should hold is unknown."""
    if frame.empty and window is not None and (now is None or naive_utc(now) >= window[1]):
        empty = Breach("every series", "no_candles", window[0].isoformat(), 0, 0)
        return GapReport(worst_day_share=1.0, breaches=(empty,))
    reports = []
    for key, rows in frame.groupby(list(keys), dropna=False, sort=False):
        try:
            timeframe_delta(str(key[-1]))
        except ValueError:
            continue
        name = "|".join(str(part) for part in key)
        reports.append(
            assess_series(name, str(key[-1]), rows["ts"], policy, window=window, now=now)
        )
    return merge_reports(reports)
