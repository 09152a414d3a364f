"""Quality of raw event records (trades, funding rates, open interest): one pass that gives
every row a quarantine reason or none, and the check outcomes made from those reasons.

A record set has an identity (``key``: a trade id, a funding time) and a content (the values
a correction could change). Row faults come first: a missing value, a value outside its
rule (non-positive price, unknown side, ...), a time outside the partition's window or after
``now``. Then, among the rows without a fault, copies of one identity that agree are kept
once (the last received; the others go to quarantine as ``duplicate_record``) and versions
that disagree are all quarantined as ``conflicting_duplicate``: nobody can say which one is
true. So ``len(clean) + len(quarantined) == len(frame)``: nothing is dropped silently.

Every check's failing count is the number of rows carrying one of its reasons, so the checks
and the quarantine table always tell the same story.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from trading_core.quality.frames import join_reasons, naive_utc_times
from trading_core.quality.outcome import CheckOutcome, CheckSpec, OutcomeBuilder, example_rows

MISSING = "missing_value"
OUT_OF_WINDOW = "out_of_window"
CONFLICT = "conflicting_duplicate"
DUPLICATE = "duplicate_record"

# A rule marks the rows whose value is bad (the column already parsed to float64 or str).
Rule = Callable[[pd.Series], pd.Series]


@dataclass(frozen=True)
class RecordSpec:
    """What a record set must look like, and which check reports which reason."""

    columns: list[str]  # every one required and never null
    key: list[str]  # identity of a record
    time: str  # event-time column, checked against the window
    numbers: list[str]  # parsed as float64 (a non-number is missing)
    rules: Mapping[str, tuple[str, Rule]]  # reason -> (column, rule)
    checks: Mapping[str, tuple[CheckSpec, tuple[str, ...]]]  # check -> (spec, its reasons)
    schema_check: str = ""  # the check that reports missing columns and wrong types
    text: list[str] = field(default_factory=list)  # columns that must hold strings

    @property
    def specs(self) -> list[CheckSpec]:
        return [spec for spec, _ in self.checks.values()]

    @property
    def reasons(self) -> tuple[str, ...]:
        return (MISSING, *self.rules, OUT_OF_WINDOW, CONFLICT, DUPLICATE)


@dataclass(frozen=True)
class Assessment:
    clean: pd.DataFrame  # rows without a reason, in arrival order
    quarantined: pd.DataFrame  # the others with their ``reason`` (';'-joined)
    outcomes: list[CheckOutcome]  # one per check of the spec, in its order


def not_positive(values: pd.Series) -> pd.Series:
    """NaN is a missing value, not this fault; infinities are faults."""
    return (values <= 0) | np.isinf(values)


def negative(values: pd.Series) -> pd.Series:
    return (values < 0) | np.isinf(values)


def not_in(allowed: tuple[str, ...]) -> Rule:
    def rule(values: pd.Series) -> pd.Series:
        return values.notna() & ~values.isin(allowed)

    return rule


def beyond(limit: float) -> Rule:
    def rule(values: pd.Series) -> pd.Series:
        return values.abs() > limit

    return rule


def _wrong_types(data: pd.DataFrame, spec: RecordSpec) -> list[str]:
    if data.empty:  # no value of a wrong type (an empty day of a source is no fault)
        return []
    wrong = [f"{c} is {data[c].dtype}" for c in spec.numbers if data[c].dtype != np.float64]
    stamp = data[spec.time].dtype
    if not (isinstance(stamp, np.dtype) and stamp.kind == "M"):
        wrong.append(f"{spec.time} is {stamp}")
    wrong += [
        f"{c} holds {pd.api.types.infer_dtype(data[c], skipna=True)} values"
        for c in spec.text
        if pd.api.types.infer_dtype(data[c], skipna=True) not in ("string", "empty")
    ]
    return wrong


def _parsed(data: pd.DataFrame, spec: RecordSpec) -> pd.DataFrame:
    """The columns as the rules read them: numbers as float64, times naive UTC."""
    out = data[spec.columns].copy()
    for column in spec.numbers:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    out[spec.time] = naive_utc_times(out[spec.time])
    for column in spec.text:  # a non-string is no valid text (and reads as missing)
        if pd.api.types.infer_dtype(out[column], skipna=True) not in ("string", "empty"):
            out[column] = out[column].where(out[column].map(lambda v: isinstance(v, str)))
    return out


def assess(
    frame: pd.DataFrame,
    spec: RecordSpec,
    window: tuple[datetime, datetime],
    now: datetime | None = None,
) -> Assessment:
    """Quarantine reasons for every row of ``frame`` and the outcomes of ``spec``'s checks;
    ``window`` is the partition's ``[start, end)``, later than ``now`` is also out of it."""
    builder = OutcomeBuilder(spec.specs)
    data = frame.reset_index(drop=True)
    absent = [c for c in spec.columns if c not in data.columns]
    if absent:
        raise ValueError(
            f"records lack columns {absent}; required: {spec.columns} (the source is broken)"
        )
    wrong = _wrong_types(data, spec) if spec.schema_check else []
    parsed = _parsed(data, spec)
    data = data.assign(**{c: parsed[c] for c in spec.columns})  # what the tables can hold
    start, end = window
    stamp = parsed[spec.time]
    late = stamp >= pd.Timestamp(end) if now is None else stamp >= pd.Timestamp(min(end, now))
    masks = {MISSING: parsed.isna().any(axis=1)}
    masks |= {reason: rule(parsed[column]) for reason, (column, rule) in spec.rules.items()}
    masks[OUT_OF_WINDOW] = stamp.notna() & ((stamp < pd.Timestamp(start)) | late)
    reasons = join_reasons(len(data), masks)
    valid = reasons == ""
    keys = parsed.loc[valid, spec.key]
    repeated = keys.duplicated(keep=False)
    content = parsed.loc[valid][repeated]
    versions = content.drop_duplicates().groupby(spec.key, dropna=False).size()
    conflicting_keys = versions[versions > 1].index
    conflict = pd.Series(False, index=data.index)
    if len(conflicting_keys):
        indexed = content.set_index(spec.key).index
        conflict[content.index] = indexed.isin(conflicting_keys)
    copies = keys[~conflict[valid]].duplicated(keep="last")
    duplicate = copies.reindex(data.index, fill_value=False)
    masks |= {CONFLICT: conflict, DUPLICATE: duplicate}
    reasons = join_reasons(len(data), {CONFLICT: conflict, DUPLICATE: duplicate}, reasons)

    if spec.schema_check:
        rows = list(range(len(data))) if wrong else []
        detail = "wrong types: " + ", ".join(wrong) if wrong else f"0 of {len(data)} rows fail"
        builder.add(spec.schema_check, not wrong, len(rows), [], detail)
    for name, (_, check_reasons) in spec.checks.items():
        if name == spec.schema_check:
            continue
        hit = np.zeros(len(data), dtype=bool)
        for reason in check_reasons:
            hit |= masks[reason].to_numpy(dtype=bool)
        rows = np.flatnonzero(hit).tolist()
        examples = example_rows(data.assign(reason=reasons), rows, [*spec.columns, "reason"])
        builder.add(name, not rows, len(rows), examples, f"{len(rows)} of {len(data)} rows fail")
    bad = reasons != ""
    return Assessment(
        clean=data[~bad].reset_index(drop=True),
        quarantined=data[bad].assign(reason=reasons[bad]).reset_index(drop=True),
        outcomes=builder.result(),
    )
