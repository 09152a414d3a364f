"""The ``reasons`` JSON of the composite signal, one object per bar, built column-wise.

For each input (in name order) its fields (``confidence``, ``contribution``, ``normalised``,
``value``: numbers rounded to 6 decimals, ``null`` where not finite) and its ``weight``:

    {"macd": {"confidence": 1.0, "contribution": 0.12, ..., "weight": 1.0}, "rsi": {...}}

Formatting millions of floats is most of the signal's cost on a long series (a year of 1m
bars is 525,600 rows x 4 fields x every input): Python or NumPy spend about 1 us a number.
DuckDB formats and concatenates in C++ (an in-memory connection of this process, never the
warehouse), with the same shortest round-trip text as ``repr`` (``1.0``, ``-0.0``,
``1e-05``; tests/trading_core/indicators/test_signal_reasons.py holds the two equal). A frame
of fewer than ``SMALL_ROWS`` rows (a bar-by-bar evaluation) takes ``json.dumps`` per row
instead: a DuckDB query costs about 8 ms however few its rows.
"""

from __future__ import annotations

import json
import threading

import duckdb
import numpy as np
import pyarrow as pa

_local = threading.local()
SMALL_ROWS = 300  # below this many rows, json.dumps per row is cheaper than a DuckDB query


def _connection() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per thread (a connection is not shared across threads)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = duckdb.connect(":memory:")
        conn.execute("set preserve_insertion_order = true")
    return conn


def _round6(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` rounded to 6 decimals (0.0 where not finite) and the not-finite mask."""
    values = np.asarray(values, dtype=float)
    missing = ~np.isfinite(values)
    return np.round(np.where(missing, 0.0, values), 6), missing


def rounded(values: np.ndarray) -> pa.Array:
    """``values`` rounded to 6 decimals, null where not finite."""
    numbers, missing = _round6(values)
    return pa.array(numbers, mask=missing)


def explain(
    present: list[str], weights: dict[str, float], fields: dict[str, np.ndarray]
) -> np.ndarray:
    """One JSON object per row; ``fields`` maps a field name to an array (rows x inputs,
    columns in the order of ``present``). Returns an object array of str."""
    if not present:
        raise ValueError("explain needs at least one input")
    rows = len(next(iter(fields.values())))
    if rows < SMALL_ROWS:
        return _explain_rows(present, weights, fields)
    columns: dict[str, pa.Array] = {}
    parts: list[str] = []
    for i, name in enumerate(sorted(present)):
        j = present.index(name)
        members = []
        for key, array in fields.items():
            column = f"c{len(columns)}"
            columns[column] = rounded(np.asarray(array)[:, j])
            members.append(
                f"{_sql_text(json.dumps(key) + ': ')}, coalesce({column}::varchar, 'null')"
            )
        members.append(_sql_text(f'"weight": {json.dumps(weights[name])}'))
        opening = ("" if i == 0 else ", ") + json.dumps(name) + ": {"
        parts.append(f"{_sql_text(opening)}, " + f", {_sql_text(', ')}, ".join(members))
        parts.append(_sql_text("}"))
    if not rows:
        return np.array([], dtype=object)
    table = pa.table(columns)
    conn = _connection()
    conn.register("_reasons_input", table)
    query = f"select concat('{{', {', '.join(parts)}, '}}') as reasons from _reasons_input"
    try:
        built = conn.sql(query).to_arrow_table()
    finally:
        conn.unregister("_reasons_input")
    if built is None:  # only for a statement that returns nothing
        raise RuntimeError("the reasons query returned no result")
    return built.column(0).to_numpy(zero_copy_only=False)


def _explain_rows(
    present: list[str], weights: dict[str, float], fields: dict[str, np.ndarray]
) -> np.ndarray:
    """The same JSON with ``json.dumps`` per row: no DuckDB query (a fixed cost of about
    8 ms) for the short frames of a bar-by-bar evaluation."""
    order = [(name, present.index(name)) for name in sorted(present)]
    columns = {}
    for key, array in fields.items():
        rounded6, missing = _round6(array)
        numbers = rounded6.astype(object)
        numbers[missing] = None
        columns[key] = [numbers[:, j].tolist() for _, j in order]
    rows = len(next(iter(fields.values())))
    out = np.empty(rows, dtype=object)
    for row in range(rows):
        out[row] = json.dumps(
            {
                name: {
                    **{key: columns[key][k][row] for key in fields},
                    "weight": weights[name],
                }
                for k, (name, _) in enumerate(order)
            }
        )
    return out


def _sql_text(text: str) -> str:
    """A SQL string literal of ``text``."""
    return "'" + text.replace("'", "''") + "'"
