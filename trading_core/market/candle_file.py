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

Speed: the file is read in chunks of ``CHUNK_LINES`` lines, each read columnar with strict
types (``trading_core.market.candle_columnar``: all its lines or none) and, when one of its
lines does not read, halved down to ``MIN_CHUNK_LINES`` lines that go line by line. The
result equals reading every line alone (``columnar=False``); a bad line costs about a
thousand lines of the line reader, not the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from trading_core.market.candle_columnar import read_columnar

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
CHUNK_LINES = 8192  # lines per chunk of the tolerant read, halved around a bad line ...
MIN_CHUNK_LINES = 1024  # ... down to this many, read line by line (~15 ms a run)
_BLANK_LINE = re.compile(r"\n\s*\n")  # a line of whitespace only (or none) inside the file


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
) -> tuple[pd.Series, pd.Series, pd.Series, str, pd.Series]:
    """Per cell: the open time accepted, the time in the cell's own unit (to locate a
    rejected line), a reason ('' = fine); the unit of most cells (or the declared one); and
    per cell its own unit ('' for none)."""
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
    return times.where(reason == ""), times, reason, unit, kinds


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


@dataclass
class _Chunk:
    """A run of non-blank lines: read columnar (``frame``) or line by line (``table``)."""

    numbers: np.ndarray  # physical line numbers (the header is line 1)
    texts: list[str]
    frame: pd.DataFrame | None = None  # ts, open..volume: every line read
    table: pd.DataFrame | None = None  # line, text, ts, open..volume, reason, own_ts
    unit: str = "iso"  # what the chunk's timestamps were read as (its majority, line by line)
    kinds: pd.Series | None = None  # line by line: each line's own unit


def _line_table(
    chunk: _Chunk, header: list[str], unterminated: bool, declared: str | None
) -> _Chunk:
    """The line-by-line read of ``chunk``: every line with its reason ('' = read)."""
    lines = pd.DataFrame({"line": chunk.numbers, "text": pd.Series(chunk.texts, dtype=object)})
    fields = lines["text"].str.split(",")
    reason = pd.Series("", index=lines.index, dtype=object)
    counts = fields.str.len()
    reason[counts != len(header)] = (
        "wrong_field_count (expected " + str(len(header)) + " fields, got "
        + counts.astype(str) + ")"
    )  # fmt: skip
    if unterminated and len(lines):
        reason.iloc[-1] = (
            reason.iloc[-1] + ";" if reason.iloc[-1] else ""
        ) + "unterminated_last_line (no newline at the end of the file: the line may be cut)"
    width = len(header)
    rows = [row if len(row) == width else [None] * width for row in fields]
    cells = pd.DataFrame(rows, index=lines.index, columns=range(width), dtype=object)
    cells.columns = header
    times, own_times, ts_reason, unit, kinds = _parse_times(cells["timestamp"], declared)
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
    table = lines.assign(reason=reason, own_ts=own_times)
    return _Chunk(chunk.numbers, chunk.texts, table=table, unit=unit, kinds=kinds)


def _majority(chunks: list[_Chunk]) -> str:
    """The unit most lines of the file use (``iso`` for a file without a readable time);
    a tie goes to the unit seen first."""
    counts: dict[str, int] = {}
    for chunk in chunks:
        if chunk.frame is not None:
            counts[chunk.unit] = counts.get(chunk.unit, 0) + len(chunk.frame)
        elif chunk.kinds is not None:
            for kind in chunk.kinds[chunk.kinds != ""]:
                counts[kind] = counts.get(kind, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else "iso"


def _nearest_times(lines: np.ndarray, good_lines: np.ndarray, good_ts: np.ndarray) -> np.ndarray:
    """Per line: the open time of the nearest good line before it (after it, for lines
    before the first good one)."""
    if not len(good_lines):
        return np.full(len(lines), np.datetime64("NaT"), dtype="datetime64[us]")
    before = np.searchsorted(good_lines, lines) - 1
    return good_ts[np.where(before >= 0, before, 0)]


def read_candle_lines(
    path: Path,
    timestamp_unit: str | None = None,
    chunk_lines: int = CHUNK_LINES,
    columnar: bool = True,
    min_lines: int = MIN_CHUNK_LINES,
) -> CandleRead:
    """The tolerant read of a candle CSV (see the module doc): in chunks of ``chunk_lines``
    lines, each read columnar when every line of it reads (``candle_columnar``), else halved
    down to ``min_lines`` and read line by line; the result is the one of reading every line
    alone (``columnar=False``, the reference the tests compare with)."""
    if timestamp_unit is not None:
        file_unit(pd.Series(dtype=object), timestamp_unit)  # a bad unit names the field
    try:
        raw = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise CandleFileError(f"cannot read candle file {path}: {exc}") from exc
    texts = raw.split("\n")
    terminated = raw.endswith("\n")
    if terminated:
        texts = texts[:-1]
    header_line = texts[0].strip("\r") if texts else ""
    header = [name.strip() for name in header_line.split(",")] if texts else []
    missing = [c for c in ("timestamp", *PRICE_COLUMNS) if c not in header]
    if missing:
        raise CandleFileError(
            f"{path}: missing columns {missing} in the header; expected header "
            f"timestamp,{','.join(PRICE_COLUMNS)}"
        )
    body = [text.rstrip("\r") for text in texts[1:]] if "\r" in raw else texts[1:]
    if _BLANK_LINE.search(raw) or (body and not body[-1].strip()):
        kept = [i for i, text in enumerate(body) if text.strip()]  # blank lines hold no candle
        numbers = np.asarray(kept, dtype="int64") + 2
        kept_texts = [body[i] for i in kept]
    else:  # the common case: no blank line, nothing to skip
        numbers, kept_texts = np.arange(2, len(body) + 2, dtype="int64"), body
    chunks: list[_Chunk] = []
    for start in range(0, len(kept_texts), chunk_lines):
        run = _Chunk(numbers[start : start + chunk_lines], kept_texts[start : start + chunk_lines])
        unterminated = not terminated and start + chunk_lines >= len(kept_texts)
        chunks += _read_run(run, header, unterminated, timestamp_unit, columnar, min_lines)
    unit = timestamp_unit or _majority(chunks)
    for i, chunk in enumerate(chunks):  # a chunk judged in another unit than the file's
        if chunk.unit != unit:
            unterminated = not terminated and i == len(chunks) - 1
            chunks[i] = _line_table(chunk, header, unterminated, unit)
    return _assemble(path, chunks, unit)


def _read_run(
    run: _Chunk,
    header: list[str],
    unterminated: bool,
    declared: str | None,
    columnar: bool,
    min_lines: int,
) -> list[_Chunk]:
    """``run`` read columnar when every line of it reads, else halved until the halves
    read or are ``min_lines`` lines, which go line by line: a bad line costs the line reader
    about ``min_lines`` lines, not its whole chunk. A run ending the file without a newline
    keeps its last line for the line reader (``unterminated_last_line``)."""
    if columnar and not unterminated:
        read = read_columnar(",".join(header), run.texts, declared)
        if read is not None:
            return [_Chunk(run.numbers, run.texts, frame=read[0], unit=read[1])]
    if not columnar or len(run.texts) <= min_lines:
        return [_line_table(run, header, unterminated, declared)]
    half = len(run.texts) // 2
    left = _Chunk(run.numbers[:half], run.texts[:half])
    right = _Chunk(run.numbers[half:], run.texts[half:])
    return [
        *_read_run(left, header, False, declared, columnar, min_lines),
        *_read_run(right, header, unterminated, declared, columnar, min_lines),
    ]


def _assemble(path: Path, chunks: list[_Chunk], unit: str) -> CandleRead:
    """The chunks' good lines in file order, and the rejected ones with ``located``."""
    goods, bads = [], []
    for chunk in chunks:
        if chunk.frame is not None:
            goods.append(chunk.frame.assign(line=chunk.numbers))
        elif chunk.table is not None:
            ok = chunk.table["reason"] == ""
            goods.append(chunk.table.loc[ok, ["ts", *PRICE_COLUMNS, "line"]])
            bads.append(chunk.table[~ok])
    total = sum(len(c.texts) for c in chunks)
    frame = (
        pd.concat(goods, ignore_index=True)
        if goods
        else pd.DataFrame(columns=["ts", *PRICE_COLUMNS, "line"])
    )
    if frame.empty and total:
        raise CandleFileError(f"{path}: none of its {total} lines is a readable candle")
    frame["ts"] = frame["ts"].astype("datetime64[us]")
    frame["line"] = frame["line"].astype("int64")
    bad = pd.concat(bads, ignore_index=True) if bads else pd.DataFrame()
    if bad.empty:
        return CandleRead(frame, empty_rejected(), unit)
    nearest = _nearest_times(
        bad["line"].to_numpy(), frame["line"].to_numpy(), frame["ts"].to_numpy()
    )
    own = bad["own_ts"].astype("datetime64[us]")
    rejected = bad.assign(
        located=own.where(own.notna(), pd.Series(nearest, index=bad.index)),
        ts=bad["ts"].astype("datetime64[us]"),
        text=bad["text"].str[:MAX_TEXT],
    )
    return CandleRead(frame, _reject_frame(rejected), unit)
