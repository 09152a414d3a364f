"""Bounded momentum oscillators: RSI, Stochastic, CCI, Williams %R, ROC (TA-Lib formulas).

Where TA-Lib divides by a zero range it returns 0; the same is done here, except RSI, which
returns 50 on a window without any change (see ``_kernels.rsi_wilder``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_core.indicators import _kernels
from trading_core.indicators._series import as_array, check_period, series


def rsi(close: pd.Series, n: int = 14) -> pd.Series:
    """Wilder's RSI (column ``rsi_<n>``); first value at bar ``n``."""
    check_period("n", n, 2)
    return series(_kernels.rsi_wilder(as_array(close, "close"), n), close.index, f"rsi_{n}")


def _safe_ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top / bottom``; 0 where ``bottom == 0`` (TA-Lib), NaN where an input is NaN."""
    out = np.divide(top, bottom, out=np.zeros_like(top), where=bottom != 0)
    out[np.isnan(top) | np.isnan(bottom)] = np.nan
    return out


def stochastic(
    high: pd.Series, low: pd.Series, close: pd.Series, k: int = 14, smooth_k: int = 3, d: int = 3
) -> pd.DataFrame:
    """Slow stochastic: %K = SMA(smooth_k) of the fast %K over ``k`` bars, %D = SMA(d) of %K.

    Columns ``stoch_k_<k>_<smooth_k>`` and ``stoch_d_<k>_<smooth_k>_<d>``, both from bar
    ``k + smooth_k + d - 3``: TA-Lib's STOCH starts its two outputs on the same bar (%K is
    computed from bar ``k + smooth_k - 2`` on, but not shown before %D exists).
    """
    for name, value in (("k", k), ("smooth_k", smooth_k), ("d", d)):
        check_period(name, value)
    h, lo, c = as_array(high, "high"), as_array(low, "low"), as_array(close, "close")
    highest = _kernels.window_max(h, k)
    lowest = _kernels.window_min(lo, k)
    fast_k = 100.0 * _safe_ratio(c - lowest, highest - lowest)
    slow_k = _kernels.window_mean(fast_k, smooth_k)
    slow_d = _kernels.window_mean(slow_k, d)
    slow_k[: min(_kernels.first_valid(slow_d), slow_k.shape[0])] = np.nan
    return pd.DataFrame(
        {f"stoch_k_{k}_{smooth_k}": slow_k, f"stoch_d_{k}_{smooth_k}_{d}": slow_d},
        index=close.index,
    )


def cci(high: pd.Series, low: pd.Series, close: pd.Series, n: int = 20) -> pd.Series:
    """Commodity Channel Index on the typical price (column ``cci_<n>``).

    0 on a flat window (every typical price equal), as TA-Lib: its fresh sum per window has
    no residue there, while a running mean can leave one of ~1e-16 whose ratio to an equally
    tiny mean deviation is a meaningless -66.67."""
    check_period("n", n, 2)
    typical = (as_array(high, "high") + as_array(low, "low") + as_array(close, "close")) / 3.0
    mean = _kernels.window_mean(typical, n)
    deviation = _kernels.window_mean_abs_dev(typical, n)
    values = _safe_ratio(typical - mean, 0.015 * deviation)
    flat = _kernels.window_max(typical, n) == _kernels.window_min(typical, n)
    values[flat & ~np.isnan(values)] = 0.0
    return series(values, close.index, f"cci_{n}")


def williams_r(high: pd.Series, low: pd.Series, close: pd.Series, n: int = 14) -> pd.Series:
    """Williams %R in [-100, 0] (column ``willr_<n>``)."""
    check_period("n", n, 2)
    h, lo, c = as_array(high, "high"), as_array(low, "low"), as_array(close, "close")
    highest = _kernels.window_max(h, n)
    lowest = _kernels.window_min(lo, n)
    # + 0.0 turns -100 * 0 = -0.0 (the close at the window's high) into 0.0
    values = -100.0 * _safe_ratio(highest - c, highest - lowest) + 0.0
    return series(values, close.index, f"willr_{n}")


def roc(close: pd.Series, n: int = 10) -> pd.Series:
    """Rate of change in percent, ``(close / close[n bars ago] - 1) * 100`` (``roc_<n>``)."""
    check_period("n", n)
    c = as_array(close, "close")
    values = np.full(c.shape[0], np.nan)
    if c.shape[0] > n:
        previous = c[:-n]
        ratio = np.divide(c[n:], previous, out=np.ones_like(previous), where=previous != 0)
        values[n:] = (ratio - 1.0) * 100.0
    return series(values, close.index, f"roc_{n}")
