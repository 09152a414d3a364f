"""Volatility: true range, ATR (Wilder), Bollinger bands, Keltner channels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_core.indicators import _kernels
from trading_core.indicators._series import as_array, check_period, label, series


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """True range (column ``tr``); NaN on the first bar, which has no previous close."""
    values = _kernels.true_range(
        as_array(high, "high"), as_array(low, "low"), as_array(close, "close")
    )
    return series(values, close.index, "tr")


def atr(high: pd.Series, low: pd.Series, close: pd.Series, n: int = 14) -> pd.Series:
    """Wilder's average true range (column ``atr_<n>``); first value at bar ``n``."""
    check_period("n", n)
    values = _kernels.atr_wilder(
        as_array(high, "high"), as_array(low, "low"), as_array(close, "close"), n
    )
    return series(values, close.index, f"atr_{n}")


def bollinger(close: pd.Series, n: int = 20, k: float = 2.0) -> pd.DataFrame:
    """Bollinger bands: SMA(n) +/- k population standard deviations (ddof=0, as TA-Lib).

    Columns ``bb_upper_<n>_<k>``, ``bb_middle_<n>_<k>``, ``bb_lower_<n>_<k>`` and
    ``bb_width_<n>_<k>`` = (upper - lower) / middle, the band width relative to price.
    """
    check_period("n", n, 2)
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k}")
    values = as_array(close, "close")
    middle = _kernels.window_mean(values, n)
    spread = k * _kernels.window_std(values, n)
    upper, lower = middle + spread, middle - spread
    suffix = f"{n}_{label(k)}"
    return pd.DataFrame(
        {
            f"bb_upper_{suffix}": upper,
            f"bb_middle_{suffix}": middle,
            f"bb_lower_{suffix}": lower,
            f"bb_width_{suffix}": (upper - lower) / middle,
        },
        index=close.index,
    )


def keltner(
    high: pd.Series, low: pd.Series, close: pd.Series, n: int = 20, mult: float = 2.0
) -> pd.DataFrame:
    """Keltner channels: EMA(n) of close (TA-Lib seeding) +/- ``mult`` x ATR(n) (Wilder).

    Not a TA-Lib function; this is the common modern definition (EMA middle, ATR bands, one
    period for both). Columns ``keltner_{upper,middle,lower}_<n>_<mult>``, from bar ``n``.
    """
    check_period("n", n, 2)
    if mult <= 0:
        raise ValueError(f"mult must be > 0, got {mult}")
    c = as_array(close, "close")
    middle = _kernels.ema_talib(c, n)
    band = mult * _kernels.atr_wilder(as_array(high, "high"), as_array(low, "low"), c, n)
    # The EMA is ready one bar before the ATR; the three columns share one warm-up.
    middle[np.isnan(band)] = np.nan
    suffix = f"{n}_{label(mult)}"
    return pd.DataFrame(
        {
            f"keltner_upper_{suffix}": middle + band,
            f"keltner_middle_{suffix}": middle,
            f"keltner_lower_{suffix}": middle - band,
        },
        index=close.index,
    )
