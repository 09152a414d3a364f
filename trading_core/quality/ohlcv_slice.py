"""Whether every row check of the candle suite passes on a slice, without running the suite.

The Great Expectations suite (``trading_core.quality.ohlcv``) costs about the same on four
candles as on a day of them (its fixed cost, about 0.8 s under load, is most of a live
ingest step). ``rows_pass`` evaluates the suite's row expectations in pandas on the slice's
rows and their helper columns (``_derived``), and says True only when each of them certainly
passes with no failing row; it is at least as strict as the suite (e.g. a text value must be
a plain ``str``, a type the suite also accepts). It never words an outcome: True lets the
caller state "0 of N rows fail" for every row check, False sends the slice to the suite (or
the whole partition to it), which then finds and describes the failures. The property is
tested on hostile frames: ``rows_pass`` True implies the suite passes every row check
(``tests/trading_core/quality/test_ohlcv_slice.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_core.market.base import OHLCV_COLUMNS
from trading_core.quality.frames import TIMESTAMP_TYPES
from trading_core.quality.ohlcv_specs import PRICE_COLUMNS, SERIES_KEYS, TEXT_COLUMNS


def _plain_text(column: pd.Series) -> bool:
    """Every value a plain ``str`` once the column is objects (as the suite is given it)."""
    return bool(column.astype(object).map(type).eq(str).all())


def _all(values: pd.Series) -> bool:
    return bool(values.to_numpy(dtype=bool).all())


def rows_pass(data: pd.DataFrame, derived: pd.DataFrame, max_abs_log_return: float) -> bool:
    """True only when every row expectation of the candle suite passes on ``data`` (one
    partition's rows, any index) with its helper columns ``derived`` (same index: computed
    with the rows before the slice, so steps and returns across its first row are known).
    Checks the suite makes: columns and types, no missing value, one candle per series and
    open time, increasing and aligned open times, high/low around open and close, positive
    prices, non-negative volume, |log return| within ``max_abs_log_return``."""
    if [c for c in OHLCV_COLUMNS if c not in data.columns] or not data.index.equals(derived.index):
        return False
    if not len(data):
        return True
    if not all(_plain_text(data[c]) for c in TEXT_COLUMNS):
        return False
    if str(data["ts"].dtype) not in TIMESTAMP_TYPES:
        return False
    if any(data[c].dtype != np.float64 for c in [*PRICE_COLUMNS, "volume"]):
        return False
    if (
        data[OHLCV_COLUMNS].isna().any().any()
        or derived.drop(columns="_ts_step_s").isna().any().any()
    ):
        return False
    if data.duplicated([*SERIES_KEYS, "ts"]).any():
        return False
    steps = derived["_ts_step_s"]
    prices = data[PRICE_COLUMNS]
    finite = np.isfinite(prices.to_numpy()).all() and np.isfinite(data["volume"].to_numpy()).all()
    return bool(finite) and all(
        (
            _all(steps.isna() | (steps > 0)),
            _all(derived["_ts_offset_s"] == 0),
            _all(data["high"] >= derived["_max_open_close"]),
            _all(derived["_min_open_close"] >= data["low"]),
            _all(derived["_min_price"] > 0),
            _all(data["volume"] >= 0),
            _all(derived["_abs_log_return"] <= max_abs_log_return),
        )
    )
