"""Trend strength: ADX with the directional indicators +DI / -DI (Wilder, TA-Lib seeding)."""

from __future__ import annotations

import pandas as pd

from trading_core.indicators import _kernels
from trading_core.indicators._series import as_array, check_period


def adx(high: pd.Series, low: pd.Series, close: pd.Series, n: int = 14) -> pd.DataFrame:
    """Columns ``adx_<n>`` (from bar ``2n - 1``), ``plus_di_<n>``, ``minus_di_<n>`` (bar ``n``)."""
    check_period("n", n, 2)
    strength, plus, minus = _kernels.adx_wilder(
        as_array(high, "high"), as_array(low, "low"), as_array(close, "close"), n
    )
    return pd.DataFrame(
        {f"adx_{n}": strength, f"plus_di_{n}": plus, f"minus_di_{n}": minus}, index=close.index
    )
