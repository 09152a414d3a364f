"""Quality of candles: a Great Expectations suite as code, and the quarantine split.

``validate_ohlcv`` gives ONE outcome per check in ``OHLCV_CHECKS`` (the names become Dagster
asset check names, keep them stable). GE evaluates the row expectations; what GE cannot express
directly (order within a series, alignment, log returns) is first derived in pandas as helper
columns, which GE then checks. Gaps are judged by ``trading_core.quality.gap_policy``, the one
place that says what a gap is and what blocks. Structural checks and ``ohlcv_gap_limit`` have
severity ``error`` (they block downstream signals for the partition); missing candles within
the limits and outlier returns are ``warn`` (reported with their position, kept).

``quarantine_ohlcv`` splits a frame into rows safe to store and rows to keep aside with a
reason; nothing is dropped. Outliers and out-of-order rows are not quarantined: the first are
real market moves more often than not, the second are fixed by the writer's sort.

The checks' names and requirements are ``trading_core.quality.ohlcv_specs``, the wording of
their outcomes ``trading_core.quality.ohlcv_outcomes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from trading_core.market.base import OHLCV_COLUMNS
from trading_core.quality.frames import (
    TIMESTAMP_TYPES,
    float_columns,
    join_reasons,
    key_codes,
    naive_utc_times,
    per_key,
)
from trading_core.quality.gap_policy import GapPolicy, GapReport, assess_frame
from trading_core.quality.gx import ExpectationResult, expectations, run_suite
from trading_core.quality.ohlcv_outcomes import dtype_problems, ohlcv_outcomes
from trading_core.quality.ohlcv_specs import (
    GAP_CHECKS,
    OHLCV_CHECK_SPECS,
    OHLCV_CHECKS,
    OHLCV_QUARANTINE_REASONS,
    PRICE_COLUMNS,
    SERIES_KEYS,
    SOURCE_CHECKS,
    TEXT_COLUMNS,
)
from trading_core.quality.outcome import CheckOutcome, OutcomeBuilder
from trading_core.quality.spike_policy import SpikeDecision
from trading_core.timeframes import TIMEFRAME_SECONDS, timeframe_seconds


def _timestamps(data: pd.DataFrame) -> pd.Series:
    """``ts`` as naive UTC, whatever it arrived as (unparseable values become NaT)."""
    return naive_utc_times(data["ts"])


def _numbers(data: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return float_columns(data, columns)


def _alignment_offsets(data: pd.DataFrame, ts: pd.Series) -> pd.Series:
    """Seconds past the timeframe grid (0 = aligned); -1 for a timeframe we do not know."""
    step = pd.Series(per_key(data["timeframe"], TIMEFRAME_SECONDS), index=data.index)
    epoch_seconds = (ts - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
    offsets = epoch_seconds % step
    return offsets.mask(step.isna() & ts.notna(), -1.0)


def _abs_log_returns(
    data: pd.DataFrame, ts: pd.Series, prices: pd.DataFrame, keys: list[str]
) -> pd.Series:
    """|log(close / previous close)| in time order within each series; the first candle of a
    series is measured against its own open. Non-positive prices give NaN (another check)."""
    ordered = pd.DataFrame({"ts": ts, "open": prices["open"], "close": prices["close"]})
    ordered[keys] = data[keys]
    ordered = ordered.sort_values([*keys, "ts"], kind="stable")
    previous = ordered.groupby(keys, dropna=False, sort=False)["close"].shift()
    previous = previous.fillna(ordered["open"])
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.abs(np.log(ordered["close"] / previous))
    values = values.where(np.isfinite(values))
    return values.reindex(data.index)


def _derived(data: pd.DataFrame, part: str | None = None) -> pd.DataFrame:
    """Helper columns GE checks; ``part``: a column of ``data`` naming each row's partition
    when several are derived at once (each then on its own, as if alone)."""
    keys = [*SERIES_KEYS, part] if part else SERIES_KEYS
    ts = _timestamps(data)
    prices = _numbers(data, PRICE_COLUMNS)
    steps = ts.groupby([data[k] for k in keys], dropna=False, sort=False).diff()
    return pd.DataFrame(
        {
            "_ts_step_s": steps / pd.Timedelta(seconds=1),
            "_ts_offset_s": _alignment_offsets(data, ts),
            "_max_open_close": prices[["open", "close"]].max(axis=1, skipna=False),
            "_min_open_close": prices[["open", "close"]].min(axis=1, skipna=False),
            "_min_price": prices.min(axis=1, skipna=False),
            "_abs_log_return": _abs_log_returns(data, ts, prices, keys),
        },
        index=data.index,
    )


def helper_columns(data: pd.DataFrame, part: str | None = None) -> pd.DataFrame:
    """The helper columns the suite checks (steps within each series in the order given,
    seconds off the grid, open/close bounds, lowest price, |log return| in time order), one
    row per row of ``data``; ``part`` as for a run's partitions derived at once."""
    return _derived(data, part)


def abs_log_returns(data: pd.DataFrame, part: str | None = None) -> pd.Series:
    """|log return| of every row of ``data`` in time order within each series (the helper
    column ``ohlcv_outlier_returns`` checks and states the largest of); ``part`` as above."""
    keys = [*SERIES_KEYS, part] if part else SERIES_KEYS
    return _abs_log_returns(data, _timestamps(data), _numbers(data, PRICE_COLUMNS), keys)


def _suite(timeframe: str | None, bound: float) -> list[Any]:
    gxe = expectations()

    def tag(name: str) -> dict[str, str]:
        return {"check": name}

    schema = tag("ohlcv_schema")
    items: list[Any] = [
        gxe.ExpectTableColumnsToMatchSet(column_set=OHLCV_COLUMNS, exact_match=False, meta=schema),
        *(
            gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=["str"], meta=schema)
            for c in TEXT_COLUMNS
        ),
        gxe.ExpectColumnValuesToBeInTypeList(column="ts", type_list=TIMESTAMP_TYPES, meta=schema),
        *(
            gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=["float64"], meta=schema)
            for c in [*PRICE_COLUMNS, "volume"]
        ),
        *(gxe.ExpectColumnValuesToNotBeNull(column=c, meta=schema) for c in OHLCV_COLUMNS),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=[*SERIES_KEYS, "ts"], meta=tag("ohlcv_unique_ts")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="_ts_step_s", min_value=0, strict_min=True, meta=tag("ohlcv_increasing_ts")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="_ts_offset_s", min_value=0, max_value=0, meta=tag("ohlcv_aligned_ts")
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="high",
            column_B="_max_open_close",
            or_equal=True,
            ignore_row_if="either_value_is_missing",  # missing values fail ohlcv_schema
            meta=tag("ohlcv_high_ge_open_close"),
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="_min_open_close",
            column_B="low",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=tag("ohlcv_low_le_open_close"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="_min_price", min_value=0, strict_min=True, meta=tag("ohlcv_positive_prices")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="volume", min_value=0, meta=tag("ohlcv_nonnegative_volume")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="_abs_log_return", max_value=bound, meta=tag("ohlcv_outlier_returns")
        ),
    ]
    if timeframe is not None:
        items.append(
            gxe.ExpectColumnValuesToBeInSet(column="timeframe", value_set=[timeframe], meta=schema)
        )
    return items


def validate_ohlcv(
    frame: pd.DataFrame,
    timeframe: str | None = None,
    max_abs_log_return: float = 0.25,
    *,
    gap_policy: GapPolicy | None = None,
    gaps: GapReport | None = None,
    window: tuple[datetime, datetime] | None = None,
    now: datetime | None = None,
    rejected: pd.DataFrame | None = None,
    spikes: Sequence[SpikeDecision] = (),
) -> list[CheckOutcome]:
    """One outcome per check of ``OHLCV_CHECK_SPECS``, in that order.

    ``timeframe``: when given, every row must have it (part of ``ohlcv_schema``); the step of
    each series always comes from its own ``timeframe`` column, so mixed frames work.
    ``window``: the half-open window of open times the frame should cover (a partition); gaps
    at its edges then count, up to the last candle closed at ``now`` if given. Without a window
    gaps are those between each series' first and last candle. ``gaps``: the gap policy's
    report when the caller made it (with the candles beyond the window's edges, see
    ``trading_core.quality.gap_policy``); else it is made here from ``frame`` with
    ``gap_policy`` (default: the default limits). ``rejected``: the source lines that did
    not read as candles (``trading_core.market.candle_file``); ``spikes``: the spike policy's
    decisions on the clean candles (``trading_core.quality.spike_policy``).
    """
    policy = gap_policy or GapPolicy()
    if timeframe is not None:
        timeframe_seconds(timeframe)  # an unknown timeframe is a caller error, named there
    builder = OutcomeBuilder(OHLCV_CHECK_SPECS)
    data = frame.reset_index(drop=True)
    absent = [c for c in OHLCV_COLUMNS if c not in data.columns]
    if absent:
        builder.add("ohlcv_schema", False, len(data), [], f"missing columns {absent}")
        builder.not_evaluated(f"missing columns {absent}")
        return builder.result()

    derived = _derived(data)
    results = run_suite(_suite_frame(data, derived), "ohlcv", _suite(timeframe, max_abs_log_return))
    return _outcomes(
        data, derived, results, max_abs_log_return, policy, gaps, window, now,
        rejected, spikes,
    )  # fmt: skip


def _suite_frame(data: pd.DataFrame, derived: pd.DataFrame) -> pd.DataFrame:
    checked = data[OHLCV_COLUMNS].copy()
    checked[TEXT_COLUMNS] = checked[TEXT_COLUMNS].astype(object)  # GE checks values of objects
    return pd.concat([checked, derived], axis=1)


def _outcomes(
    data: pd.DataFrame,
    derived: pd.DataFrame,
    results: list[ExpectationResult],
    max_abs_log_return: float,
    policy: GapPolicy,
    gaps: GapReport | None,
    window: tuple[datetime, datetime] | None,
    now: datetime | None,
    rejected: pd.DataFrame | None,
    spikes: Sequence[SpikeDecision],
) -> list[CheckOutcome]:
    shown = pd.concat([data[OHLCV_COLUMNS], derived], axis=1).rename(
        columns={"_abs_log_return": "abs_log_return", "_ts_offset_s": "seconds_off_grid"}
    )
    largest = derived["_abs_log_return"].max()
    if gaps is None:
        gaps = assess_frame(data, policy, SERIES_KEYS, window=window, now=now)
    return ohlcv_outcomes(
        len(data), shown, dtype_problems(data), results,
        None if pd.isna(largest) else float(largest), max_abs_log_return, policy, gaps,
        rejected, spikes,
    )  # fmt: skip


def quarantine_ohlcv(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into ``(clean, quarantined)``; ``quarantined`` has a ``reason`` column
    (``OHLCV_QUARANTINE_REASONS``, several joined by ';'). ``len(clean) + len(quarantined) ==
    len(frame)``; both keep the received order. Of identical copies of a candle otherwise
    valid, the last received stays clean and the earlier ones are quarantined
    (``duplicate_ts``); versions of one candle that differ in any price or the volume are ALL
    quarantined (``conflicting_duplicate``): which one is right is unknown."""
    absent = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if absent:
        raise ValueError(f"cannot quarantine candles without columns {absent}")
    data = frame.reset_index(drop=True)
    ts = _timestamps(data)
    prices = _numbers(data, PRICE_COLUMNS)
    volume = _numbers(data, ["volume"])["volume"]
    upper = prices[["open", "close"]].max(axis=1)
    lower = prices[["open", "close"]].min(axis=1)
    offsets = _alignment_offsets(data, ts)
    masks = {
        "missing_value": data[OHLCV_COLUMNS].isna().any(axis=1) | ts.isna(),
        "non_positive_price": (prices <= 0).any(axis=1),
        "negative_volume": volume < 0,
        "high_low_inconsistent": (prices["high"] < upper)
        | (prices["low"] > lower)
        | (prices["high"] < prices["low"]),
        "misaligned_ts": offsets.notna() & (offsets != 0),
    }
    reasons = join_reasons(len(data), masks)
    valid = reasons == ""
    # one candle = (series, ts): integer codes, hashed much faster than the text columns
    keys = pd.DataFrame(
        {"series": key_codes(data, SERIES_KEYS), "ts": ts.to_numpy().astype("int64")},
        index=data.index,
    )
    same_key = keys[valid].duplicated(keep=False)
    differ = pd.Series(False, index=data.index)
    if same_key.any():  # rare: only the rows sharing a key are compared
        shared = same_key.index[same_key.to_numpy()]
        content = keys.loc[shared].assign(
            **{c: prices.loc[shared, c] for c in PRICE_COLUMNS}, volume=volume.loc[shared]
        )
        versions = content.groupby(["series", "ts"]).transform("nunique")
        differ = (versions > 1).any(axis=1).reindex(data.index, fill_value=False)
    conflicting = same_key.reindex(data.index, fill_value=False) & differ
    duplicate = keys[valid & ~conflicting].duplicated(keep="last")
    duplicate = duplicate.reindex(data.index, fill_value=False)
    reasons = join_reasons(
        len(data), {"duplicate_ts": duplicate, "conflicting_duplicate": conflicting}, reasons
    )
    bad = reasons != ""
    quarantined = data[bad].assign(reason=reasons[bad]).reset_index(drop=True)
    return data[~bad].reset_index(drop=True), quarantined


@dataclass(frozen=True)
class PartitionInput:
    """One partition of a run to validate: what ``validate_ohlcv`` takes."""

    key: str
    frame: pd.DataFrame
    gaps: GapReport | None = None
    window: tuple[datetime, datetime] | None = None
    now: datetime | None = None
    rejected: pd.DataFrame | None = None
    spikes: Sequence[SpikeDecision] = ()


def _dtypes(data: pd.DataFrame) -> tuple[str, ...]:
    return tuple(str(data[c].dtype) for c in OHLCV_COLUMNS)


def validate_ohlcv_partitions(
    parts: Sequence[PartitionInput],
    max_abs_log_return: float = 0.25,
    *,
    gap_policy: GapPolicy | None = None,
) -> dict[str, list[CheckOutcome]]:
    """``validate_ohlcv`` for every partition of a run in ONE Great Expectations suite run
    (per set of column types: a column's type is judged for the whole frame), the results
    split back by partition: the outcomes are those of one suite per partition, without
    paying GE's fixed cost (~0.17 s) per partition. Row positions stay each partition's."""
    policy = gap_policy or GapPolicy()
    out: dict[str, list[CheckOutcome]] = {}
    groups: dict[tuple[str, ...], list[tuple[PartitionInput, pd.DataFrame]]] = {}
    for part in parts:
        data = part.frame.reset_index(drop=True)
        if [c for c in OHLCV_COLUMNS if c not in data.columns]:
            out[part.key] = validate_ohlcv(
                data, None, max_abs_log_return, gap_policy=policy, gaps=part.gaps,
                window=part.window, now=part.now, rejected=part.rejected, spikes=part.spikes,
            )  # fmt: skip
            continue
        groups.setdefault(_dtypes(data), []).append((part, data))
    for group in groups.values():
        whole_data = pd.concat(
            [data[OHLCV_COLUMNS].assign(_part=i) for i, (_, data) in enumerate(group)],
            ignore_index=True,
        )
        whole_derived = _derived(whole_data, "_part")
        members = []
        start = 0
        for part, data in group:
            derived = whole_derived.iloc[start : start + len(data)].reset_index(drop=True)
            members.append((part, data, derived))
            start += len(data)
        frames = [_suite_frame(data, derived) for _, data, derived in members]
        offsets = np.cumsum([0, *[len(f) for f in frames]])
        whole = pd.concat(frames, ignore_index=True)
        results = run_suite(whole, "ohlcv", _suite(None, max_abs_log_return))
        for i, (part, data, derived) in enumerate(members):
            lo, hi = int(offsets[i]), int(offsets[i + 1])
            mine = []
            for r in results:
                rows = [row - lo for row in r.failing_rows if lo <= row < hi]
                success = (not rows and not r.error) if r.row_level else r.success
                mine.append(replace(r, failing_rows=rows, success=success))
            out[part.key] = _outcomes(
                data, derived, mine, max_abs_log_return,
                policy, part.gaps, part.window, part.now, part.rejected, part.spikes,
            )  # fmt: skip
    return {part.key: out[part.key] for part in parts}


__all__ = [
    "GAP_CHECKS",
    "OHLCV_CHECKS",
    "OHLCV_CHECK_SPECS",
    "OHLCV_QUARANTINE_REASONS",
    "SOURCE_CHECKS",
    "PartitionInput",
    "abs_log_returns",
    "helper_columns",
    "quarantine_ohlcv",
    "validate_ohlcv",
    "validate_ohlcv_partitions",
]
