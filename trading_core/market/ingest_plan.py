"""What a raw/ohlcv run fetches for one daily partition, and what the partition then holds.

Incremental only for the day in progress: each series resumes from its last stored candle,
minus ``refetch`` candles that exchanges may still correct, and keeps the stored rows before
that (its head, with the head's quarantined rows). A past day is always fetched whole, so
re-materializing it picks up corrections. The stored head and the fetched tail are validated
together as the whole partition by ``settle_partitions``; raw/ohlcv gives the stored rows only
for a day in progress whose recorded checks passed, and validates just its tail
(``trading_core.market.ohlcv_resume``), else it fetches the day whole. A gap touching the
window's first or last candle is looked up beyond the edge (``GapPolicy.reach`` candles, one
small fetch, only then), so a gap across midnight is judged by its whole length
(``trading_core.quality.gap_policy``).

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
from functools import cache

import pandas as pd

from trading_core.config import MarketConfig
from trading_core.market.base import MarketSource, empty_ohlcv
from trading_core.market.ingest import fetch_window, incremental_start
from trading_core.quality import CheckOutcome, blocks, quarantine_ohlcv
from trading_core.quality.gap_policy import GapPolicy, GapReport, assess_series, merge_reports
from trading_core.quality.ohlcv import PartitionInput, validate_ohlcv_partitions
from trading_core.quality.spike_policy import (
    SeriesBar,
    SpikeDecision,
    SpikePolicy,
    hold_frame,
    spike_policy_of,
)
from trading_core.series import SeriesKey
from trading_core.timeframes import floor_time, timeframe_delta


@cache
def _empty_raw() -> pd.DataFrame:
    return empty_ohlcv().assign(
        source=pd.Series(dtype=object), ingested_at=pd.Series(dtype="datetime64[us]")
    )


def empty_raw() -> pd.DataFrame:
    """No rows, with the columns of raw.ohlcv."""
    return _empty_raw().copy()


def empty_quarantine() -> pd.DataFrame:
    """No rows, with the columns of raw.ohlcv_quarantine but ``partition_key``."""
    return empty_raw().assign(reason=pd.Series(dtype=object))


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
    quarantined: pd.DataFrame = field(default_factory=lambda: empty_quarantine())
    spikes: list[SpikeDecision] = field(default_factory=list)
    rejected_lines: int = 0  # source lines quarantined alone
    # what the validation needs besides ``received`` (``settle_partitions``)
    report: GapReport = field(default_factory=GapReport)
    rejected: pd.DataFrame | None = None
    validated_at: datetime | None = None  # the ``now`` of the run
    # resumed (``trading_core.market.ohlcv_resume``): ``clean`` is only the slice from each
    # kept head's ``fetch_start`` on; the ``head_rows`` stored before it stay as they are
    resumed: bool = False
    head_rows: int = 0

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
    if lines.empty:
        return empty_raw().assign(reason=pd.Series(dtype=object))
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
    operator released. ``validate=False`` leaves the quarantine split, the spike hold and
    the outcomes to ``settle_partitions``, which does them once for the run's partitions."""
    start, end = window
    stored = empty_raw() if stored is None else stored
    policy = GapPolicy(cfg.max_gap_candles, cfg.max_gap_ratio)
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
    report = merge_reports(reports)
    gaps = [gap.as_dict() for gap in report.gaps]
    batch = PartitionBatch(
        key, symbol, start, end, received, [], fetched, kept_heads, gaps,
        rejected_lines=len(rejected), report=report, rejected=rejected, validated_at=now,
    )  # fmt: skip
    if not validate:
        return batch
    return settle_partitions([batch], source, cfg, released=released, spike_policy=spike_policy)[0]


def _spikes_of(batch: PartitionBatch, spikes: list[SpikeDecision]) -> list[SpikeDecision]:
    return [
        d
        for d in spikes
        if batch.start <= d.ts < batch.end and d.series.split("|")[1] == batch.symbol
    ]


def settle_partitions(
    batches: list[PartitionBatch],
    source: MarketSource,
    cfg: MarketConfig,
    *,
    released: Collection[SeriesBar] = (),
    spike_policy: SpikePolicy | None = None,
) -> list[PartitionBatch]:
    """Quarantine split, spike hold and validation of a run's partitions, each done ONCE for
    the whole run (a backfill of a year pays pandas' and Great Expectations' fixed costs once,
    not per partition), then split back by partition. The spike hold sees a series across the
    run's partitions, so a day's first bar is measured from the previous day's last one; a bar
    pending at the end of a closed window is judged with the candles beyond it."""
    if not batches:
        return []
    policy = spike_policy or spike_policy_of(cfg)
    tagged = [b.received.assign(_partition=b.key) for b in batches]
    received = pd.concat(tagged, ignore_index=True)
    clean, bad = quarantine_ohlcv(received)
    stored, held_rows, spikes = hold_frame(clean, policy, released=released)
    pending = [d for d in spikes if d.status == "held_pending"]
    last = max(batches, key=lambda b: b.end)
    if pending and last.validated_at is not None and not in_progress(last.end, last.validated_at):
        beyond = _beyond(
            source, cfg, last.symbol, last.end, last.validated_at, pending, policy.confirm_bars
        )
        stored, held_rows, spikes = hold_frame(clean, policy, released=released, beyond=beyond)
    outcomes = validate_ohlcv_partitions(
        [
            PartitionInput(
                b.key, b.received, b.report, (b.start, b.end), b.validated_at, b.rejected,
                _spikes_of(b, spikes),
            )
            for b in batches
        ],
        cfg.max_abs_log_return,
        gap_policy=GapPolicy(cfg.max_gap_candles, cfg.max_gap_ratio),
    )  # fmt: skip
    settled = []
    for batch in batches:
        key = batch.key
        lines = batch.rejected if batch.rejected is not None else bad.iloc[:0]
        parts = (
            bad[bad["_partition"] == key].drop(columns="_partition"),
            held_rows[held_rows["_partition"] == key].drop(columns="_partition"),
            lines.reindex(columns=[c for c in bad.columns if c != "_partition"]),
        )
        quarantined = pd.concat([q for q in parts if len(q)] or [parts[0]], ignore_index=True)
        settled.append(
            replace(
                batch,
                outcomes=outcomes[key],
                clean=stored[stored["_partition"] == key]
                .drop(columns="_partition")
                .reset_index(drop=True),
                quarantined=quarantined,
                spikes=_spikes_of(batch, spikes),
            )
        )
    return settled
