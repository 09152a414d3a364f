"""Conversions between pandas inputs and the float arrays the kernels read."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

Convention = Literal["talib", "pandas"]
CONVENTIONS: tuple[str, ...] = ("talib", "pandas")


def check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention {convention!r} is not allowed; allowed: {CONVENTIONS}")


def check_period(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def as_array(series: pd.Series, name: str, leading_nan: bool = False) -> np.ndarray:
    """``series`` as contiguous float64; NaN is refused except, optionally, a leading run.

    The recursive kernels cannot skip a hole without inventing a convention for it, so a gap
    in prices is an error here rather than a silently shifted indicator.
    """
    values = np.ascontiguousarray(pd.to_numeric(series, errors="raise"), dtype=np.float64)
    missing = np.isnan(values)
    if missing.any():
        first = int(np.argmin(missing)) if not missing.all() else len(values)
        holes = np.flatnonzero(missing[first:])
        if not leading_nan or holes.size:
            where = int(holes[0] + first) if holes.size else 0
            raise ValueError(f"{name} has NaN at position {where}; fill or drop it first")
    return values


def label(value: float) -> str:
    """A parameter as it appears in a column name: ``2.0 -> '2'``, ``2.5 -> '2.5'``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def series(values: np.ndarray, index: pd.Index, name: str) -> pd.Series:
    return pd.Series(values, index=index, name=name)
