"""What a raw/ohlcv run fetches for one daily partition, and what the partition then holds.

Incremental only for the day in progress: each series resumes from its last stored candle,
minus ``refetch`` candles that exchanges may still correct, and keeps the stored rows before
that (its head, with the head's quarantined rows). A past day is always fetched whole, so
re-materializing it picks up corrections. The stored head and the fetched tail are validated
together as the whole partition. A gap touching the window's first or last candle is looked up
beyond the edge (``GapPolicy.reach`` candles, one small fetch, only then), so a gap across
midnight is judged by its whole length (``trading_core.quality.gap_policy``).

``plan_series`` is pure; ``fetch_partition`` calls the source it is given. Reading and
writing the warehouse is ``trading_core.market.ingest_write``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from trading_core.config import MarketConfig
from trading_core.market.base import MarketSource, empty_ohlcv
from trading_core.market.ingest import fetch_window, incremental_start
from trading_core.quality import CheckOutcome, blocks, validate_ohlcv
from trading_core.quality.gap_policy import GapPolicy, GapReport, assess_series, merge_reports
from trading_core.series import SeriesKey
from trading_core.timeframes import floor_time, timeframe_delta


def empty_raw() -> pd.DataFrame:
    """No rows, with the columns of raw.ohlcv."""
    return empty_ohlcv().assign(
        source=pd.Series(dtype=object), ingested_at=pd.Series(dtype="datetime64[us]")
    )


def in_progress(end: datetime, now: datetime) -> bool:
    """A partition ending after ``now`` is the day in progress: the only one run
    incrementally, so the only one whose stored rows matter."""
    return end > now


@dataclass(frozen=True)
class SeriesPlan:
    """Fetch ``series`` from ``fetch_start`` (resuming after ``last_stored``) to ``end``;
    the stored ``head`` (``ts < fetch_start``) stays as it is."""

    series: SeriesKey
    start: datetime
    end: datetime
    last_stored: datetime | None  # None: the whole window is fetched
    fetch_start: datetime
    head: pd.DataFrame


def plan_series(
    series: SeriesKey,
    start: datetime,
    end: datetime,
    now: datetime,
    stored: pd.DataFrame,
    refetch: int,
) -> SeriesPlan:
    """The plan for one series of the partition window ``[start, end)``, given the series'
    rows already stored in that window (any order). A past day ignores them."""
    if not in_progress(end, now):
        stored = empty_raw()
    last = stored["ts"].max() if len(stored) else None
    last_stored = None if last is None or pd.isna(last) else pd.Timestamp(last).to_pydatetime()
    fetch_start = incremental_start(start, end, series.timeframe, last_stored, refetch)
    head = stored[stored["ts"] < fetch_start]
    return SeriesPlan(series, start, end, last_stored, fetch_start, head)


@dataclass(frozen=True)
class PartitionBatch:
    """One partition of a run, fetched and validated: replace its rows by ``received``."""

    key: str  # the Dagster partition key, e.g. 2025-01-02|BTC-USDT
    symbol: str
    start: datetime
    end: datetime
    received: pd.DataFrame  # stored heads + fetched tails, as validated
    outcomes: list[CheckOutcome]
    fetched: int  # candles the source returned
    # (series, fetch_start) of each series whose stored head stays, with its quarantined rows
    kept_heads: list[tuple[SeriesKey, datetime]]
    gaps: list[dict[str, object]]  # missing candles per series, for the run's metadata

    @property
    def blocked(self) -> bool:
        """A blocking (error) check failed: raw.partition_checks keeps the partition out of
        the signals."""
        return blocks(self.outcomes)


def series_gaps(
    source: MarketSource,
    series: SeriesKey,
    window: tuple[datetime, datetime],
    now: datetime,
    present: pd.Series,
    policy: GapPolicy,
) -> GapReport:
    """The gap report of one series of a partition, given the open times it holds. When its
    first (or last, once closed) candle is missing, the candles beyond that edge are fetched,
    ``policy.reach`` of them, to measure the gap's whole run."""
    start, end = window
    step = timeframe_delta(series.timeframe)
    closed = floor_time(now, series.timeframe)  # open times before it are closed candles
    times = pd.to_datetime(present, errors="coerce").dropna()
    lo, hi = start, min(end, closed)
    beyond = []
    if hi > start and (times.empty or times.min() > start):
        lo = start - policy.reach(series.timeframe)
        beyond.append((lo, start))
    if end <= closed and (times.empty or times.max() + step < end):
        hi = min(end + policy.reach(series.timeframe), closed)
        beyond.append((end, hi))
    edges = [
        source.fetch_ohlcv(series.exchange, series.symbol, series.timeframe, a, b, now=now)["ts"]
        for a, b in beyond
        if b > a
    ]
    return assess_series(
        str(series), series.timeframe, pd.concat([times, *edges]), policy,
        window=window, now=now, searched=(lo, hi),
    )  # fmt: skip


def fetch_partition(
    source: MarketSource,
    cfg: MarketConfig,
    key: str,
    symbol: str,
    window: tuple[datetime, datetime],
    now: datetime,
    stored: pd.DataFrame | None = None,
) -> PartitionBatch:
    """Plan, fetch and validate every configured exchange x timeframe series of ``symbol`` in
    one partition window. ``stored``: the partition's rows already in the warehouse (needed
    for the day in progress only)."""
    start, end = window
    stored = empty_raw() if stored is None else stored
    policy = GapPolicy(cfg.max_gap_candles, cfg.max_gap_ratio)
    parts: list[pd.DataFrame] = []
    kept_heads: list[tuple[SeriesKey, datetime]] = []
    reports: list[GapReport] = []
    fetched = 0
    for exchange in cfg.exchanges:
        for timeframe in cfg.timeframes:
            series = SeriesKey(exchange, symbol, timeframe)
            rows = stored[(stored["exchange"] == exchange) & (stored["timeframe"] == timeframe)]
            plan = plan_series(series, start, end, now, rows, cfg.refetch_candles)
            tail = fetch_window(
                source, exchange, symbol, timeframe, start, end, now,
                last_stored=plan.last_stored, refetch=cfg.refetch_candles,
            ).frame  # fmt: skip
            fetched += len(tail)
            if len(plan.head):
                kept_heads.append((series, plan.fetch_start))
            parts += [plan.head, tail.assign(source=source.name, ingested_at=now)]
            present = pd.concat([plan.head["ts"], tail["ts"]], ignore_index=True)
            reports.append(series_gaps(source, series, window, now, present, policy))
    received = pd.concat([p for p in parts if len(p)] or [empty_raw()], ignore_index=True)
    report = merge_reports(reports)
    outcomes = validate_ohlcv(
        received,
        None,
        cfg.max_abs_log_return,
        gap_policy=policy,
        gaps=report,
        window=(start, end),
        now=now,
    )
    gaps = [gap.as_dict() for gap in report.gaps]
    return PartitionBatch(key, symbol, start, end, received, outcomes, fetched, kept_heads, gaps)
