"""What a raw/ohlcv run fetches for one daily partition, and what the partition then holds.

Incremental only for the day in progress: each series resumes from its last stored candle,
minus ``refetch`` candles that exchanges may still correct, and keeps the stored rows before
that (its head, with the head's quarantined rows). A past day is always fetched whole, so
re-materializing it picks up corrections. The stored head and the fetched tail are validated
together as the whole partition. A gap touching the window's first or last candle is looked up
beyond the edge (``GapPolicy.reach`` candles, one small fetch, only then), so a gap across
midnight is judged by its whole length (``trading_core.quality.gap_policy``).

Nothing is dropped on the way: a source line that is not one candle (replay files:
``trading_core.market.candle_file``) becomes a quarantine row with its line number and
reason; the quarantine split (``trading_core.quality.quarantine_ohlcv``) and then the spike
hold (``trading_core.quality.spike_policy``) decide what ``clean`` holds. A bar the spike hold
keeps is re-fetched by every run of its day in progress (``held_from``), and a past day's bar
near the window's end is judged with the next ``confirm_bars`` candles beyond it.

``plan_series`` is pure; ``fetch_partition`` calls the source it is given. Reading and
writing the warehouse is ``trading_core.market.ingest_write``'s.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime

import pandas as pd

from trading_core.config import MarketConfig
from trading_core.market.base import MarketSource, empty_ohlcv
from trading_core.market.ingest import fetch_window, incremental_start
from trading_core.quality import CheckOutcome, blocks, quarantine_ohlcv, validate_ohlcv
from trading_core.quality.gap_policy import GapPolicy, GapReport, assess_series, merge_reports
from trading_core.quality.spike_policy import SeriesBar, SpikeDecision, SpikePolicy, hold_frame
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
    clean: pd.DataFrame = field(default_factory=empty_raw)  # what raw.ohlcv gets
    quarantined: pd.DataFrame = field(default_factory=empty_raw)  # with a reason per row
    spikes: list[SpikeDecision] = field(default_factory=list)
    rejected_lines: int = 0  # source lines quarantined alone
    # what the validation needs besides ``received`` (``validate_partitions``)
    report: GapReport = field(default_factory=GapReport)
    rejected: pd.DataFrame | None = None

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


def source_rejects(
    source: MarketSource,
    series: SeriesKey,
    window: tuple[datetime, datetime],
    now: datetime,
    ingested_at: datetime,
) -> pd.DataFrame:
    """The source lines of a series that did not read as candles, as quarantine rows
    (``reason``: ``malformed_line: line N of FILE: why; text: ...``). Sources without files
    (sim, ccxt) have none."""
    rejected_lines = getattr(source, "rejected_lines", None)
    if rejected_lines is None:
        return empty_raw().assign(reason=pd.Series(dtype=object))
    lines = rejected_lines(series.exchange, series.symbol, series.timeframe, *window, now=now)
    reason = (
        "malformed_line: line " + lines["line"].astype(str) + " of " + lines["file"].astype(str)
        + ": " + lines["reason"].astype(str) + "; text: " + lines["text"].astype(str)
    )  # fmt: skip
    rows = lines.rename(columns={"reason": "line_reason"}).assign(
        source=source.name, ingested_at=ingested_at, reason=reason
    )
    return rows[[*empty_raw().columns, "reason", "line", "file", "line_reason", "text"]]


def _beyond(
    source: MarketSource,
    cfg: MarketConfig,
    symbol: str,
    end: datetime,
    now: datetime,
    pending: list[SpikeDecision],
    confirm_bars: int,
) -> pd.DataFrame:
    """The next ``confirm_bars`` candles after a closed window of each series with a bar
    still pending confirmation (one small fetch per such series, only then)."""
    frames = []
    for series in sorted({d.series for d in pending}):
        exchange, _, timeframe = series.split("|")
        stop = min(end + confirm_bars * timeframe_delta(timeframe), floor_time(now, timeframe))
        if stop > end:
            frames.append(source.fetch_ohlcv(exchange, symbol, timeframe, end, stop, now=now))
    return pd.concat(frames, ignore_index=True) if frames else empty_raw()


def fetch_partition(
    source: MarketSource,
    cfg: MarketConfig,
    key: str,
    symbol: str,
    window: tuple[datetime, datetime],
    now: datetime,
    stored: pd.DataFrame | None = None,
    *,
    released: Collection[SeriesBar] = (),
    held_from: dict[tuple[str, str], datetime] | None = None,
    spike_policy: SpikePolicy | None = None,
    validate: bool = True,
) -> PartitionBatch:
    """Plan, fetch and validate every configured exchange x timeframe series of ``symbol`` in
    one partition window. ``stored``: the partition's rows already in the warehouse (needed
    for the day in progress only); ``held_from``: per (exchange, timeframe) the oldest bar of
    the day in progress the spike hold keeps (re-fetched from there); ``released``: bars an
    operator released. ``validate=False`` leaves ``outcomes`` empty for
    ``validate_partitions`` (one suite for the run's partitions)."""
    start, end = window
    stored = empty_raw() if stored is None else stored
    policy = GapPolicy(cfg.max_gap_candles, cfg.max_gap_ratio)
    spikes_policy = spike_policy or SpikePolicy(cfg.max_abs_log_return)
    parts: list[pd.DataFrame] = []
    rejects: list[pd.DataFrame] = []
    kept_heads: list[tuple[SeriesKey, datetime]] = []
    reports: list[GapReport] = []
    fetched = 0
    for exchange in cfg.exchanges:
        for timeframe in cfg.timeframes:
            series = SeriesKey(exchange, symbol, timeframe)
            rows = stored[(stored["exchange"] == exchange) & (stored["timeframe"] == timeframe)]
            plan = plan_series(series, start, end, now, rows, cfg.refetch_candles)
            last_stored, refetch = plan.last_stored, cfg.refetch_candles
            held = (held_from or {}).get((exchange, timeframe))
            if held is not None and in_progress(end, now) and held < plan.fetch_start:
                # re-judge a held bar with the candles that came since
                last_stored, refetch = held - timeframe_delta(timeframe), 0
                plan = SeriesPlan(
                    series, start, end, last_stored, held, plan.head[plan.head["ts"] < held]
                )
            tail = fetch_window(
                source, exchange, symbol, timeframe, start, end, now,
                last_stored=last_stored, refetch=refetch,
            ).frame  # fmt: skip
            fetched += len(tail)
            if len(plan.head):
                kept_heads.append((series, plan.fetch_start))
            parts += [plan.head, tail.assign(source=source.name, ingested_at=now)]
            rejects.append(source_rejects(source, series, window, now, now))
            present = pd.concat([plan.head["ts"], tail["ts"]], ignore_index=True)
            reports.append(series_gaps(source, series, window, now, present, policy))
    received = pd.concat([p for p in parts if len(p)] or [empty_raw()], ignore_index=True)
    rejected = pd.concat([r for r in rejects if len(r)] or [rejects[0]], ignore_index=True)
    clean, bad = quarantine_ohlcv(received)
    kept, held_rows, spikes = hold_frame(clean, spikes_policy, released=released)
    pending = [d for d in spikes if d.status == "held_pending"]
    if pending and not in_progress(end, now):
        beyond = _beyond(source, cfg, symbol, end, now, pending, spikes_policy.confirm_bars)
        kept, held_rows, spikes = hold_frame(
            clean, spikes_policy, released=released, beyond=beyond
        )
    quarantined = pd.concat(
        [q for q in (bad, held_rows, rejected[[*bad.columns]]) if len(q)] or [bad],
        ignore_index=True,
    )
    report = merge_reports(reports)
    gaps = [gap.as_dict() for gap in report.gaps]
    batch = PartitionBatch(
        key, symbol, start, end, received, [], fetched, kept_heads, gaps,
        clean=kept, quarantined=quarantined, spikes=spikes, rejected_lines=len(rejected),
        report=report, rejected=rejected,
    )  # fmt: skip
    if not validate:
        return batch
    outcomes = validate_ohlcv(
        received,
        None,
        cfg.max_abs_log_return,
        gap_policy=policy,
        gaps=report,
        window=(start, end),
        now=now,
        rejected=rejected,
        spikes=spikes,
    )
    return replace(batch, outcomes=outcomes)
