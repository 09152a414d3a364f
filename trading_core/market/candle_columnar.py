"""The strict columnar read of a run of candle lines (pyarrow): all of them or none.

``trading_core.market.candle_file`` reads a file that the whole-file columnar read refused in
chunks of lines: a chunk this module reads is taken as it is, and only a chunk it refuses goes
line by line. It must therefore refuse every chunk in which the line reader would reject or
read differently any line: a wrong field count, a timestamp that is not ISO 8601 or not epoch
numbers of one plausible unit (the file's, when known), a number that does not parse (quotes
are not special, as for the line reader; only an empty cell is missing: ``nan``, ``NULL`` or
``inf`` refuse the chunk), a blank-looking line it would count differently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")

_PARSE = pa_csv.ParseOptions(quote_char=False, double_quote=False, escape_char=False)
_CONVERT = pa_csv.ConvertOptions(
    column_types={name: pa.float64() for name in PRICE_COLUMNS},
    include_columns=["timestamp", *PRICE_COLUMNS],
    null_values=[""],  # only an empty cell is missing (the line reader's rule)
    strings_can_be_null=False,
    quoted_strings_can_be_null=False,
)


def _times(column: pa.ChunkedArray, declared: str | None) -> tuple[np.ndarray, str] | None:
    """Naive UTC ``datetime64[us]`` and the unit read (iso or an epoch unit), or None when a
    value needs the line reader (unparseable, several units, not the declared one)."""
    from trading_core.market.candle_file import epoch_to_times, epoch_units

    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        if column.null_count:
            return None
        values = column.to_numpy(zero_copy_only=False).astype("float64")
        units = epoch_units(values)
        found = set(units.tolist())
        if len(found) != 1 or "" in found or (declared is not None and found != {declared}):
            return None
        return epoch_to_times(values, units), found.pop()
    if declared not in (None, "iso") or column.null_count:
        return None
    if pa.types.is_timestamp(kind):
        # aware timestamps are UTC instants: dropping the zone keeps UTC wall time
        return column.cast(pa.timestamp("us")).to_numpy().astype("datetime64[us]"), "iso"
    if not pa.types.is_string(kind) and not pa.types.is_large_string(kind):
        return None
    text = pd.Series(column.to_pylist(), dtype=object).str.strip()
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    if parsed.isna().any():
        return None
    return parsed.dt.tz_convert(None).to_numpy().astype("datetime64[us]"), "iso"


def read_columnar(
    header: str, texts: list[str], declared: str | None = None
) -> tuple[pd.DataFrame, str] | None:
    """``ts`` + float ``open..volume`` of ``texts`` (lines without their newline, none blank)
    under the file's ``header`` line, and the timestamp unit read; None when any line needs
    the line reader (see the module doc)."""
    if not texts:
        return None
    data = ("\n".join(texts) + "\n").encode("utf-8")
    # the header's names, stripped as the line reader strips them; one thread: chunks are small
    names = [name.strip() for name in header.split(",")]
    options = pa_csv.ReadOptions(use_threads=False, column_names=names)
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(data), read_options=options, parse_options=_PARSE, convert_options=_CONVERT
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError):
        return None
    if table.num_rows != len(texts):  # a blank-looking line the reader skipped
        return None
    read = _times(table.column("timestamp"), declared)
    if read is None:
        return None
    prices = {}
    for name in PRICE_COLUMNS:
        column = table.column(name)
        values = column.to_numpy()  # an empty cell (null) becomes NaN: missing, goes on
        if np.count_nonzero(~np.isfinite(values)) > column.null_count:  # nan / inf cells
            return None
        prices[name] = values
    ts, unit = read
    return pd.DataFrame({"ts": ts, **prices}, copy=False), unit
