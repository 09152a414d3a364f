"""The day in progress of raw/ohlcv, validated and written from its last stored candles on.

A run fetches each series of the day in progress from its last stored candle (minus the
``refetch`` candles exchanges may still correct: ``trading_core.market.ingest_plan``); the
rows before that, the **head**, are stored already. ``resume_partitions`` validates only the
fetched **slice** against what the head leaves to it, and the run then replaces only the
slice (``PartitionBatch.resumed``). That is allowed only when the partition's recorded checks
(``raw.partition_checks``) all passed but the gap checks, so that the head holds no
quarantined row, no held bar, no spike candidate and no failing row: its candles are exactly
what a whole-day validation keeps. The state the cross-row checks carry over from the head:

- the head's last candle of each series: the slice's first step (strictly increasing) and
  first |log return| are measured from it, and it is the spike hold's last kept close;
- the head's rows and its largest |log return|: the numbers the outcomes state (``0 of N
  rows fail``, ``largest ...``);
- the head's open times: the gap report is always the whole window's, made by
  ``fetch_partition`` from the head's and the slice's open times, so a gap is reported with
  its exact position, and a partition with gaps still resumes.

The slice passes when no row of it is quarantined and every row check passes
(``trading_core.quality.ohlcv_slice.rows_pass``, without the Great Expectations suite and at
least as strict). The spike hold then decides nothing on it: with every |log return| within
the outlier bound, which the spike limit is never below, no slice bar is a candidate. Its
outcomes are worded by the function a whole-day validation uses
(``trading_core.quality.ohlcv_outcomes``) from the same numbers: equal, word for word. Any
other case is fetched and validated whole (the caller's part): a duplicate, a bad row, a
spike, a malformed source line, a series whose slice is empty though it has a head,
exchanges out of step, stored series no longer configured, or the previous day of the
symbol in the same run (the spike hold would measure the head's first bar from its close).
Past days are never resumed: they are fetched whole, so a source's correction arrives.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from trading_core.config import MarketConfig
from trading_core.market.ingest_plan import (
    PartitionBatch,
    empty_quarantine,
    in_progress,
)
from trading_core.quality import quarantine_ohlcv
from trading_core.quality.gap_policy import GapPolicy
from trading_core.quality.ohlcv import abs_log_returns, helper_columns
from trading_core.quality.ohlcv_outcomes import ohlcv_outcomes
from trading_core.quality.ohlcv_slice import rows_pass
from trading_core.quality.ohlcv_specs import GAP_CHECKS, OHLCV_CHECK_SPECS
from trading_core.quality.spike_policy import spike_policy_of
from trading_core.series import SeriesKey

ASSET_KEY = "raw/ohlcv"
# recorded and passed, these let a partition resume; the gap checks are the whole window's
RESUME_CHECKS = tuple(spec.name for spec in OHLCV_CHECK_SPECS if spec.name not in GAP_CHECKS)


def read_resumable(conn: duckdb.DuckDBPyConnection, keys: Iterable[str]) -> set[str]:
    """The partitions among ``keys`` whose recorded checks, but the gap checks, all passed."""
    keys = list(keys)
    if not keys:
        return set()
    rows = conn.execute(
        "select partition_key, check_name, passed from raw.partition_checks "
        f"where asset_key = ? and partition_key in ({', '.join('?' * len(keys))})",
        [ASSET_KEY, *keys],
    ).fetchall()
    passed: dict[str, dict[str, bool]] = {}
    for key, name, ok in rows:
        passed.setdefault(key, {})[name] = bool(ok)
    return {
        key for key, checks in passed.items() if all(checks.get(n) is True for n in RESUME_CHECKS)
    }


def _series(frame: pd.DataFrame) -> set[tuple[str, str]]:
    """The (exchange, timeframe) pairs of a partition's rows."""
    pairs = frame[["exchange", "timeframe"]].drop_duplicates()
    return set(zip(pairs["exchange"], pairs["timeframe"], strict=True))


def _split(
    batch: PartitionBatch, cfg: MarketConfig
) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[SeriesKey, datetime]]] | None:
    """The batch's received rows as (head, slice) and where each configured series' slice
    starts (the window's start for a series without a head), or None: no resume."""
    heads = {(s.exchange, s.timeframe): start for s, start in batch.kept_heads}
    starts = {(e, t): heads.get((e, t), batch.start) for e in cfg.exchanges for t in cfg.timeframes}
    if set(heads) - set(starts) or len({(t, starts[e, t]) for e, t in starts}) != len(
        cfg.timeframes
    ):
        return None  # exchanges out of step: a second venue's bar may sit in its head
    received = batch.received
    if _series(received) - set(starts):
        return None
    is_head = np.zeros(len(received), dtype=bool)
    for (exchange, timeframe), start in heads.items():
        is_head |= (
            (received["exchange"] == exchange)
            & (received["timeframe"] == timeframe)
            & (received["ts"] < start)
        ).to_numpy()
    head, tail = received[is_head], received[~is_head]
    if tail.empty or set(heads) - _series(tail):
        return None  # a series with a head got no candle (its newest would be the head's)
    slices = [(SeriesKey(e, batch.symbol, t), start) for (e, t), start in sorted(starts.items())]
    return head, tail, slices


def _judge_slices(
    candidates: dict[str, tuple[pd.DataFrame, pd.DataFrame]], cfg: MarketConfig
) -> dict[str, float]:
    """The partitions (key -> (head, slice)) whose slice has no quarantined row, no spike
    decision and no failing row check, each with the largest |log return| of the whole
    partition. Each step runs once for all of them (pandas' fixed costs paid once per run)."""
    if not candidates:
        return {}
    heads = pd.concat([h.assign(_partition=k) for k, (h, _) in candidates.items()])
    tails = pd.concat([t.assign(_partition=k) for k, (_, t) in candidates.items()])
    heads, tails = heads.reset_index(drop=True), tails.reset_index(drop=True)
    _, bad = quarantine_ohlcv(tails)
    failed = set(bad["_partition"])
    ordered = heads.sort_values(["_partition", "exchange", "timeframe", "ts"], kind="stable")
    lasts = ordered.groupby(["_partition", "exchange", "timeframe"], sort=False).tail(1)
    joined = pd.concat([lasts, tails], ignore_index=True)
    derived = helper_columns(joined, "_partition").iloc[len(lasts) :]
    rows = joined.iloc[len(lasts) :]
    together = rows_pass(rows.drop(columns="_partition"), derived, cfg.max_abs_log_return)
    for key in set(candidates) - failed:
        mine = (rows["_partition"] == key).to_numpy()
        if not together and not rows_pass(
            rows[mine].drop(columns="_partition"), derived[mine], cfg.max_abs_log_return
        ):
            failed.add(key)
    # A bar is a spike candidate only when it moves more than the spike limit from the last
    # kept close; every head bar is kept, so once the rows passed (each |log return| within
    # the outlier bound, the first measured from the head's last close, in time order as the
    # spike hold measures) no slice bar is a candidate: the spike hold decides nothing on
    # it, whatever the releases. That needs the limit at least the bound (it is for every
    # timeframe: spike_policy_of scales the same number up); else validate whole.
    policy = spike_policy_of(cfg)
    if any(policy.limit(t) < cfg.max_abs_log_return for t in cfg.timeframes):
        return {}
    returns = pd.concat([abs_log_returns(heads, "_partition"), derived["_abs_log_return"]])
    partitions = pd.concat([heads["_partition"], rows["_partition"]])
    largest = returns.groupby(partitions.to_numpy()).max()
    return {key: float(largest[key]) for key in candidates if key not in failed}


def foreign_series(stored: pd.DataFrame, cfg: MarketConfig) -> bool:
    """The stored rows hold a series the configuration does not (a whole-day run drops it)."""
    configured = {(e, t) for e in cfg.exchanges for t in cfg.timeframes}
    return bool(_series(stored) - configured)


def _previous_day_in_run(batch: PartitionBatch, batches: list[PartitionBatch]) -> bool:
    return any(b.symbol == batch.symbol and b.end == batch.start for b in batches)


def _resumed(
    batch: PartitionBatch,
    cfg: MarketConfig,
    head: pd.DataFrame,
    tail: pd.DataFrame,
    slices: list[tuple[SeriesKey, datetime]],
    largest: float,
) -> PartitionBatch:
    """``batch`` with the whole partition's outcomes, its slice to write."""
    outcomes = ohlcv_outcomes(
        len(batch.received), batch.received.iloc[0:0], [], [], largest,
        cfg.max_abs_log_return, GapPolicy(cfg.max_gap_candles, cfg.max_gap_ratio),
        batch.report, batch.rejected, [],
    )  # fmt: skip
    return replace(
        batch,
        outcomes=outcomes,
        clean=tail.reset_index(drop=True),
        quarantined=empty_quarantine(),
        spikes=[],
        kept_heads=slices,  # every series, replaced from there on
        resumed=True,
        head_rows=len(head),
    )


def resume_partitions(
    batches: list[PartitionBatch],
    cfg: MarketConfig,
    resumable: Collection[str],
) -> tuple[list[PartitionBatch], list[PartitionBatch]]:
    """The run's batches (from ``fetch_partition(..., validate=False)``) as (resumed, to
    validate whole), in the order given. ``resumable``: the partitions whose recorded checks
    passed (``read_resumable``)."""
    split = {}
    for batch in batches:
        now = batch.validated_at
        if (
            batch.key not in resumable
            or now is None
            or not in_progress(batch.end, now)
            or batch.rejected_lines
            or _previous_day_in_run(batch, batches)
        ):
            continue
        parts = _split(batch, cfg)
        if parts is not None:
            split[batch.key] = parts
    passing = _judge_slices({k: (h, t) for k, (h, t, _) in split.items()}, cfg)
    resumed, whole = [], []
    for batch in batches:
        if batch.key in passing:
            head, tail, slices = split[batch.key]
            resumed.append(_resumed(batch, cfg, head, tail, slices, passing[batch.key]))
        else:
            whole.append(batch)
    return resumed, whole
