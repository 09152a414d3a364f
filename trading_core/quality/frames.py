"""Small frame helpers shared by the candle and order-book checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Naive datetime64 of any unit; an aware dtype (datetime64[us, UTC]) is a schema failure.
TIMESTAMP_TYPES: list[str] = ["datetime64[s]", "datetime64[ms]", "datetime64[us]", "datetime64[ns]"]


def join_reasons(
    n: int, masks: dict[str, pd.Series], reasons: np.ndarray | None = None
) -> np.ndarray:
    """Per-row reason strings: the names of the masks a row hits, joined by ';' ('' = clean).
    ``reasons`` extends an earlier result."""
    out = np.full(n, "", dtype=object) if reasons is None else reasons.copy()
    for name, mask in masks.items():
        hit = mask.to_numpy(dtype=bool)
        out[hit] = np.where(out[hit] == "", name, out[hit] + ";" + name)
    return out


def naive_utc_times(values: pd.Series) -> pd.Series:
    """Times as naive UTC, whatever they arrived as (unparseable values become NaT). Naive
    ``datetime64`` (already naive UTC) is returned as is: the common case costs nothing."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        return values
    if isinstance(dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(None)
    return pd.to_datetime(values, errors="coerce", utc=True).dt.tz_convert(None)


def float_columns(data: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``columns`` as float64; a cell that is not a number becomes NaN. Columns already
    float64 are taken as they are (no per-cell parse)."""
    out = data[columns]
    slow = [c for c in columns if out[c].dtype != np.float64]
    if not slow:
        return out
    parsed = out[slow].apply(pd.to_numeric, errors="coerce").astype("float64")
    return out.assign(**{c: parsed[c] for c in slow})[columns]


def per_key(values: pd.Series, mapping: dict[str, int]) -> np.ndarray:
    """``mapping[value]`` per row as float64 (NaN for a value not in it), looked up once per
    distinct value, not once per row (a text column of a million rows maps in milliseconds)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.array([mapping.get(u, np.nan) for u in uniques] + [np.nan], dtype="float64")
    return table[codes]  # code -1 (missing) takes the trailing NaN


def key_codes(data: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One int64 per row, equal for rows equal in every column of ``columns`` (missing
    values equal to each other, as ``DataFrame.duplicated`` treats them)."""
    combined = np.zeros(len(data), dtype="int64")
    bound = 1  # every code of ``combined`` is below it
    for column in columns:
        codes, uniques = pd.factorize(data[column], use_na_sentinel=False)
        if bound * (len(uniques) + 1) >= 2**62:  # re-coded below len(data): no overflow
            combined = pd.factorize(combined)[0].astype("int64")
            bound = len(data) + 1
        combined = combined * (len(uniques) + 1) + codes
        bound *= len(uniques) + 1
    return combined
