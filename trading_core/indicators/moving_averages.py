"""Moving averages and MACD, in two conventions.

``convention="talib"`` (default): EMA seeded with the SMA of its first ``n`` values, as
TA-Lib does; TA-Lib's MACD seeds the fast and slow EMAs on windows ending on the same bar
(see ``_kernels.macd_talib``). ``convention="pandas"``: ``ewm(span=n, adjust=False,
min_periods=n)``, seeded with the first value; this is what vectorbt uses and what the
``macd`` strategy and the sweep kernel use by default, so backtests compare with vectorbt
exactly. Both give NaN before their warm-up; the MACD line starts at bar ``slow - 1`` and the
signal/histogram at bar ``slow + signal - 2`` in both conventions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_core.indicators import _kernels
from trading_core.indicators._series import (
    Convention,
    as_array,
    check_convention,
    check_period,
    series,
)


def sma(close: pd.Series, n: int = 20) -> pd.Series:
    """Simple moving average over ``n`` bars (column ``sma_<n>``)."""
    check_period("n", n)
    return series(_kernels.window_mean(as_array(close, "close", True), n), close.index, f"sma_{n}")


def ema(close: pd.Series, n: int = 21, convention: Convention = "talib") -> pd.Series:
    """Exponential moving average, k = 2 / (n + 1) (column ``ema_<n>``).

    Leading NaNs are allowed (the average starts at the first valid value).
    """
    check_period("n", n)
    check_convention(convention)
    values = as_array(close, "close", leading_nan=True)
    kernel = _kernels.ema_talib if convention == "talib" else _kernels.ema_pandas
    return series(kernel(values, n), close.index, f"ema_{n}")


def macd(
    close: pd.Series,
    fast: int = 12,
    slow: int = 26,
    signal: int = 9,
    convention: Convention = "talib",
) -> pd.DataFrame:
    """MACD line, signal line and histogram.

    Columns ``macd_<f>_<s>_<g>``, ``macd_signal_<f>_<s>_<g>``, ``macd_hist_<f>_<s>_<g>``.
    TA-Lib convention: all three start on bar ``slow + signal - 2``, as TA-Lib's MACD (the
    line exists from bar ``slow - 1`` and seeds the signal, but is not shown earlier);
    pandas convention: the line from bar ``slow - 1``.
    """
    check_period("fast", fast, 2)
    check_period("slow", slow, 2)
    check_period("signal", signal, 1)
    if fast >= slow:
        raise ValueError(f"fast ({fast}) must be < slow ({slow})")
    check_convention(convention)
    values = as_array(close, "close")
    if convention == "talib":
        line = _kernels.macd_talib(values, fast, slow)
        trigger = _kernels.ema_talib(line, signal)
        # TA-Lib starts all three outputs on the signal's first bar (slow + signal - 2)
        line[: min(_kernels.first_valid(trigger), line.shape[0])] = np.nan
    else:
        line = _kernels.ema_pandas(values, fast) - _kernels.ema_pandas(values, slow)
        trigger = _kernels.ema_pandas(line, signal)
    suffix = f"{fast}_{slow}_{signal}"
    return pd.DataFrame(
        {
            f"macd_{suffix}": line,
            f"macd_signal_{suffix}": trigger,
            f"macd_hist_{suffix}": line - trigger,
        },
        index=close.index,
    )
