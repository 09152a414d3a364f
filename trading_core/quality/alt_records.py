"""Record-level rules for social, news and on-chain data: what is quarantined, and why.

Every rule here turns a record into a reject (``raw.quarantine`` via a
:class:`~trading_core.social.results.RejectLog`) instead of dropping it or letting one version
silently win. Reasons start with a fixed code (the text before the first ``:``) that the
ingest asset checks group by (:data:`REASON_CHECKS`):

- ``conflicting duplicate``: two records share an id (RSS guid, Reddit post id, X post id, on-chain
  asset + metric + ts) but differ in content. Exact copies collapse to one row; conflicting
  versions are ALL quarantined, none is stored: we cannot tell which one is true.
- ``outside every partition``: an event time before the first partition or after now + the clock
  skew (a post dated 2999). No partition's fetch window would ever hold it, so every fetch that
  reads it reports it (like a record with no usable date).
- ``negative value``: an on-chain value below zero for a metric that cannot be negative
  (:func:`metric_may_be_negative`).
- ``text too long``: a text field over :data:`MAX_TEXT_CHARS` characters. The record is
  quarantined, not truncated: a cut text would score a different sentiment without saying so.
- ``malformed line`` / ``malformed entry`` / ``unreadable file``: a line of a source file that
  cannot be split into the header's fields (or is not JSON), a feed entry broken so that it has
  neither title nor description, a file that cannot be read at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from trading_core.social.results import RecordRejected, RejectLog

# Per text field (title, selftext, text, summary). Reddit caps a self post at 40,000
# characters and X a long post at 25,000; the longest field in ../shared/data is 24,541.
MAX_TEXT_CHARS = 100_000

# Reason code -> the ingest asset check that reports it.
REASON_CHECKS: dict[str, str] = {
    "conflicting duplicate": "no_conflicting_duplicates",
    "outside every partition": "event_times_in_partitions",
    "negative value": "values_in_domain",
    "text too long": "text_within_limit",
    "malformed line": "lines_parsed",
    "unreadable file": "lines_parsed",
    "malformed entry": "lines_parsed",
    "invalid JSON": "lines_parsed",
}

# On-chain metrics that may be negative: returns over a period (Coin Metrics ROI30d, ROI1yr)
# and net flows (Coin Metrics FlowNet*, e.g. FlowNetInExNtv). Every other metric counts or
# measures something (hash rate, difficulty, prices, caps, supplies, volumes, fees,
# transactions, addresses, ratios such as NVT or MVRV) and cannot be below zero.
_SIGNED_METRIC = re.compile(r"^(ROI\w*|FlowNet\w*)$")


def metric_may_be_negative(metric: str) -> bool:
    """Whether a negative value of ``metric`` is plausible (see :data:`_SIGNED_METRIC`)."""
    return bool(_SIGNED_METRIC.match(metric))


def negative_value_problem(metric: str, value: float) -> str | None:
    """The quarantine reason for ``value`` of ``metric``, or None when it is acceptable."""
    if value < 0 and not metric_may_be_negative(metric):
        return f"negative value: {metric} = {value!r}, and {metric} cannot be negative"
    return None


def check_text_length(field: str, value: str | None) -> None:
    """Raise :class:`RecordRejected` when ``value`` is longer than :data:`MAX_TEXT_CHARS`."""
    if value is not None and len(value) > MAX_TEXT_CHARS:
        raise RecordRejected(
            f"text too long: {field} has {len(value):,} characters "
            f"(limit {MAX_TEXT_CHARS:,} per field)"
        )


@dataclass(frozen=True)
class Horizon:
    """The event times some partition can hold: ``[first, until)``, naive UTC.

    ``first`` is the start of the first partition; ``until`` is now + the allowed clock skew.
    """

    first: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.first >= self.until:
            raise ValueError(
                f"horizon: first {self.first.isoformat()} is not before until "
                f"{self.until.isoformat()}"
            )

    @classmethod
    def from_now(cls, first: datetime, now: datetime, skew: timedelta) -> Horizon:
        return cls(first, now + skew)

    def contains(self, when: datetime) -> bool:
        return self.first <= when < self.until

    def problem(self, column: str, when: datetime) -> str | None:
        """The quarantine reason for an event time outside the horizon, else None."""
        if when < self.first:
            return (
                f"outside every partition: {column} {when.isoformat()} is before the first "
                f"partition ({self.first.isoformat()})"
            )
        if when >= self.until:
            return (
                f"outside every partition: {column} {when.isoformat()} is after now + clock "
                f"skew ({self.until.isoformat()})"
            )
        return None


def quarantine_conflicts(
    frame: pd.DataFrame,
    id_columns: Sequence[str],
    content_columns: Sequence[str],
    rejects: RejectLog,
    *,
    origin_column: str | None = None,
) -> pd.DataFrame:
    """``frame`` with one row per id: exact copies (same ``content_columns``) collapse to the
    first, and every version of an id with more than one distinct content goes to ``rejects``
    with reason ``conflicting duplicate`` (none of them stays in the frame). ``origin_column``
    names a column saying where each row was read (a file and line), used as the reject's
    origin."""
    ids = list(id_columns)
    if not frame.duplicated(ids).any():
        return frame
    compared = ids + [c for c in content_columns if c not in ids]
    distinct = frame.drop_duplicates(compared, keep="first")
    versions = distinct.groupby(ids, dropna=False, sort=False)[ids[0]].transform("size")
    conflicting = distinct[versions > 1]
    for _, group in conflicting.groupby(ids, dropna=False, sort=False):
        key = ", ".join(f"{c}={group.iloc[0][c]}" for c in ids)
        differing = [c for c in compared if group[c].astype(str).nunique() > 1]
        reason = (
            f"conflicting duplicate: {key} has {len(group)} versions differing in "
            f"{', '.join(differing)}; all kept here, none stored"
        )
        for number, (_, row) in enumerate(group.iterrows(), start=1):
            origin = f"version {number} of {len(group)}"
            if origin_column is not None:
                origin = f"{row[origin_column]} ({origin})"
            rejects.add(reason, origin=origin, record=_plain(row[compared]))
    kept = distinct[versions <= 1] if len(conflicting) else distinct
    if len(kept) == len(frame):
        return frame
    return kept.reset_index(drop=True)


def _plain(row: pd.Series) -> dict[str, Any]:
    return {key: (None if _missing(value) else value) for key, value in row.items()}


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
