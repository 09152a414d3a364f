"""Reading one replayed candle file: columnar when it is well formed, else line by line.

A well-formed CSV or Parquet file is read by pyarrow in one pass; any other goes line by line
(``trading_core.market.candle_file``), each bad line rejected alone with its line number and
reason. Timestamps are candle open times: ISO-8601 UTC (naive strings read as UTC) or epoch
numbers whose unit is detected from their magnitude or declared; a file is refused only when
no line of it can be read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from trading_core.market.base import MarketDataError
from trading_core.market.candle_file import (
    CandleFileError,
    CandleRead,
    empty_rejected,
    epoch_to_times,
    epoch_units,
    read_candle_lines,
)

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


def _timestamps_to_naive_utc(column: pa.ChunkedArray, declared: str | None) -> np.ndarray | None:
    """Naive UTC ``datetime64[us]`` from a timestamp (aware or naive), epoch or ISO column;
    None when the column needs the line-by-line read (epoch numbers of more than one unit,
    or not the declared one: ``trading_core.market.candle_file``)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        if declared not in (None, "iso"):
            return None
        # Aware timestamps are stored as UTC instants; dropping the zone keeps UTC wall time.
        return column.cast(pa.timestamp("us")).to_numpy().astype("datetime64[us]")
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        values = column.to_numpy(zero_copy_only=False).astype("float64")
        units = epoch_units(values)
        found = set(units.tolist())
        if len(found) != 1 or "" in found or (declared is not None and found != {declared}):
            return None
        return epoch_to_times(values, units)
    if declared not in (None, "iso"):
        return None
    try:
        parsed = pd.to_datetime(column.to_pandas(), utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return None
    return parsed.dt.tz_convert(None).to_numpy().astype("datetime64[us]")


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, 2)
        if handle.tell() == 0:
            return True
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"


def _read_fast(path: Path, timestamp_unit: str | None) -> pd.DataFrame | None:
    """The columnar read of a well-formed file; None when a line needs the tolerant read."""
    if path.suffix != ".parquet" and not _ends_with_newline(path):
        return None
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        else:
            types = {name: pa.float64() for name in PRICE_COLUMNS}
            # only an empty cell is missing: nan, NULL, N/A... go line by line (unparseable)
            strict = pa_csv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=False
            )
            table = pa_csv.read_csv(path, convert_options=strict)
    except pa.ArrowInvalid:
        if path.suffix == ".parquet":
            raise
        return None
    missing = [c for c in ("timestamp", *PRICE_COLUMNS) if c not in table.column_names]
    if missing:
        raise MarketDataError(
            f"{path}: missing columns {missing}; "
            f"expected header timestamp,{','.join(PRICE_COLUMNS)}"
        )
    ts = _timestamps_to_naive_utc(table.column("timestamp"), timestamp_unit)
    if ts is None:
        if path.suffix == ".parquet":
            raise MarketDataError(
                f"{path}: timestamps of mixed or undeclared units; declare timestamp_unit"
            )
        return None
    prices = {}
    for name in PRICE_COLUMNS:
        column = table.column(name)
        column = column if column.type == pa.float64() else column.cast(pa.float64())
        # an empty cell (null) goes on, to be quarantined as missing_value; nan / inf cells
        # are rejected line by line with their line number
        if pc.all(pc.is_finite(column)).as_py() is False:
            return None
        prices[name] = column.to_numpy()
    return pd.DataFrame({"ts": ts, **prices}, copy=False)  # one block build, no per-column copy


def read_candle_file(path: Path, timestamp_unit: str | None = None) -> pd.DataFrame:
    """``ts`` plus float ``open..volume`` of the readable lines, in file order."""
    return read_candles(path, timestamp_unit).frame


def read_candles(path: Path, timestamp_unit: str | None = None) -> CandleRead:
    """``ts`` plus float ``open..volume`` in file order, and the lines rejected alone (see
    ``trading_core.market.candle_file``); a ``MarketDataError`` names a file that cannot be
    read at all. ``timestamp_unit``: iso | s | ms | us | ns, or None to detect it."""
    try:
        frame = _read_fast(path, timestamp_unit)
        if frame is not None:
            unit = timestamp_unit or "detected"
            return CandleRead(frame, empty_rejected(), unit)
        read = read_candle_lines(path, timestamp_unit)
    except (pa.ArrowInvalid, OSError, CandleFileError) as exc:
        raise MarketDataError(f"cannot read candle file {path}: {exc}") from exc
    return CandleRead(read.frame.drop(columns="line"), read.rejected, read.ts_unit)
