"""Reading one candle file line by line: good lines become candles, bad lines are rejected
alone with their line number and reason; a file is refused only when it cannot be read at all.

Layout: a header with ``timestamp,open,high,low,close,volume`` (any order, more columns
ignored), one candle per line. ``timestamp`` is the candle's open time: ISO 8601 (naive = UTC)
or epoch numbers. The unit of epoch numbers is **detected** from their magnitude, which is
unambiguous for times between 1990 and 2100 (seconds ~1e9, milliseconds ~1e12, microseconds
~1e15, nanoseconds ~1e18), or **declared** (``timestamp_unit``); the file's unit is the one of
most of its lines, and a line in another unit (or outside 1990-2100 in every unit) is
rejected, never read in the wrong unit.

Reasons a line is rejected (``LINE_REASONS``): ``wrong_field_count``, ``unparseable_ts``,
``implausible_ts``, ``ts_unit_mismatch``, ``unparseable_number`` (a cell that is not a
number, or ``nan``/``inf``), ``unterminated_last_line`` (the file does not end with a newline:
its last line, and so its last field, may be cut short, e.g. a copy interrupted mid-write).
An empty cell is not rejected here: the row goes on and is quarantined as ``missing_value``.

Rejected lines keep ``located``: their own open time when it parsed, else the one of the
nearest good line before (after, for leading lines), so each lands in one partition's
quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
LINE_REASONS = (
    "wrong_field_count",
    "unparseable_ts",
    "implausible_ts",
    "ts_unit_mismatch",
    "unparseable_number",
    "unterminated_last_line",
)
EPOCH_UNITS = ("s", "ms", "us", "ns")
_PLAUSIBLE = (pd.Timestamp("1990-01-01"), pd.Timestamp("2100-01-01"))
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
MAX_TEXT = 200  # characters of a rejected line kept in its reason


class CandleFileError(ValueError):
    """The file cannot be read at all (no header, no readable line); names the file."""


@dataclass(frozen=True)
class CandleRead:
    frame: pd.DataFrame  # ts (naive UTC datetime64[us]), open..volume (float64), line
    rejected: pd.DataFrame  # line, ts, located, reason, text, open..volume (NaN if unread)
    ts_unit: str  # iso | s | ms | us | ns: what the file's timestamps were read as


def epoch_units(values: np.ndarray) -> np.ndarray:
    """Per value, the epoch unit under which it is a time in 1990-2100 ('' for none)."""
    out = np.full(len(values), "", dtype=object)
    magnitude = np.abs(values.astype("float64"))
    for unit in EPOCH_UNITS:
        per_second = pd.Timedelta(seconds=1) / pd.Timedelta(1, unit=unit)
        lo = (_PLAUSIBLE[0] - pd.Timestamp(0)).total_seconds() * per_second
        hi = (_PLAUSIBLE[1] - pd.Timestamp(0)).total_seconds() * per_second
        out[(values >= lo) & (values < hi) & (magnitude > 0)] = unit
    return out


def epoch_to_times(values: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Naive UTC ``datetime64[us]`` of epoch numbers, each in its own unit (NaT for '')."""
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[us]")
    for unit in EPOCH_UNITS:
        hit = units == unit
        if hit.any():
            whole = np.round(values[hit]).astype("int64")
            out[hit] = whole.astype(f"datetime64[{unit}]").astype("datetime64[us]")
    return out


def file_unit(kinds: pd.Series, declared: str | None) -> str:
    """The unit most lines use (``iso`` or an epoch unit), unless one is declared."""
    if declared is not None:
        if declared not in ("iso", *EPOCH_UNITS):
            raise ValueError(
                f"timestamp_unit must be one of iso, {', '.join(EPOCH_UNITS)}; got {declared!r}"
            )
        return declared
    counts = kinds[kinds != ""].value_counts()
    return str(counts.index[0]) if len(counts) else "iso"


def _parse_times(
    cells: pd.Series, declared: str | None
) -> tuple[pd.Series, pd.Series, pd.Series, str]:
    """Per cell: the open time accepted, the time in the cell's own unit (to locate a
    rejected line), a reason ('' = fine); and the file's unit."""
    text = cells.fillna("").str.strip()
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64")
    numeric = np.isfinite(numbers)
    kinds = pd.Series(np.where(numeric, epoch_units(numbers), "iso"), index=cells.index)
    iso = pd.to_datetime(text.where(~numeric), utc=True, errors="coerce", format="ISO8601")
    iso = iso.dt.tz_convert(None).astype("datetime64[us]")
    kinds = kinds.mask(~numeric & iso.isna(), "")
    unit = file_unit(kinds, declared)
    times = pd.Series(epoch_to_times(numbers, kinds.to_numpy()), index=cells.index)
    times = times.where(numeric, iso)
    reason = pd.Series("", index=cells.index, dtype=object)
    reason[~numeric & iso.isna()] = "unparseable_ts"
    reason[numeric & (kinds == "")] = "implausible_ts (no unit gives a time in 1990-2100)"
    wrong = (kinds != "") & (kinds != unit)
    names = kinds.map(lambda k: _UNIT_NAMES.get(k, "ISO 8601"))
    reason[wrong] = (
        "ts_unit_mismatch (epoch " + names[wrong] + " in a file of "
        + ("ISO 8601 times" if unit == "iso" else f"epoch {_UNIT_NAMES[unit]}") + ")"
    )  # fmt: skip
    return times.where(reason == ""), times, reason, unit


REJECTED_COLUMNS = ["line", "ts", "located", "reason", "text", *PRICE_COLUMNS]


def _reject_frame(lines: pd.DataFrame) -> pd.DataFrame:
    return lines.reindex(columns=REJECTED_COLUMNS).reset_index(drop=True)


def empty_rejected() -> pd.DataFrame:
    """No rejected line, with the columns of ``CandleRead.rejected`` (a shallow copy of one
    frame built once: the fast read of a clean file pays ~nothing for it)."""
    return _empty_rejected().copy(deep=False)


@cache
def _empty_rejected() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "line": pd.Series(dtype="int64"),
            "ts": pd.Series(dtype="datetime64[us]"),
            "located": pd.Series(dtype="datetime64[us]"),
            "reason": pd.Series(dtype=object),
            "text": pd.Series(dtype=object),
            **{c: pd.Series(dtype="float64") for c in PRICE_COLUMNS},
        }
    )


def read_candle_lines(path: Path, timestamp_unit: str | None = None) -> CandleRead:
    """The slow, tolerant read of a candle CSV (see the module doc)."""
    try:
        raw = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise CandleFileError(f"cannot read candle file {path}: {exc}") from exc
    texts = raw.split("\n")
    terminated = raw.endswith("\n")
    if terminated:
        texts = texts[:-1]
    header = [name.strip() for name in texts[0].strip("\r").split(",")] if texts else []
    missing = [c for c in ("timestamp", *PRICE_COLUMNS) if c not in header]
    if missing:
        raise CandleFileError(
            f"{path}: missing columns {missing} in the header; expected header "
            f"timestamp,{','.join(PRICE_COLUMNS)}"
        )
    body = pd.Series(texts[1:], dtype=object).str.rstrip("\r")
    lines = pd.DataFrame({"line": np.arange(2, len(body) + 2), "text": body})
    lines = lines[body.str.strip() != ""].copy()  # blank lines hold no candle
    fields = lines["text"].str.split(",")
    reason = pd.Series("", index=lines.index, dtype=object)
    counts = fields.str.len()
    reason[counts != len(header)] = (
        "wrong_field_count (expected " + str(len(header)) + " fields, got "
        + counts.astype(str) + ")"
    )  # fmt: skip
    if not terminated and len(lines):
        reason.iloc[-1] = (
            reason.iloc[-1] + ";" if reason.iloc[-1] else ""
        ) + "unterminated_last_line (no newline at the end of the file: the line may be cut)"
    width = len(header)
    rows = [row if len(row) == width else [None] * width for row in fields]
    cells = pd.DataFrame(rows, index=lines.index, columns=range(width), dtype=object)
    cells.columns = header
    times, own_times, ts_reason, unit = _parse_times(cells["timestamp"], timestamp_unit)
    lines["ts"] = times
    unread = reason == ""
    reason[unread & (ts_reason != "")] = ts_reason[unread & (ts_reason != "")]
    for column in PRICE_COLUMNS:
        text = cells[column].fillna("").str.strip()
        value = pd.to_numeric(text, errors="coerce")
        lines[column] = value.astype("float64")
        bad = (text != "") & ~np.isfinite(value.fillna(0.0))
        bad |= (text != "") & value.isna()
        add = bad & (reason == "")
        reason[add] = f"unparseable_number (column {column}: '" + text[add].str[:40] + "')"
    good = reason == ""
    read = lines[good]
    if read.empty and len(lines):
        raise CandleFileError(f"{path}: none of its {len(lines)} lines is a readable candle")
    nearest = lines["ts"].where(good).ffill().bfill()
    rejected = lines[~good].assign(
        located=own_times.fillna(nearest)[~good],
        reason=reason[~good],
        text=lines.loc[~good, "text"].str[:MAX_TEXT],
    )
    frame = read[["ts", *PRICE_COLUMNS, "line"]].reset_index(drop=True)
    frame["ts"] = frame["ts"].astype("datetime64[us]")
    return CandleRead(frame, _reject_frame(rejected), unit)
