"""Volume indicators: OBV and VWAP (rolling, and per UTC-day session).

The default column is the *rolling* VWAP over ``n`` bars of the typical price
``(high + low + close) / 3``: it means the same on every timeframe and needs no clock.
``session_vwap`` restarts at each UTC midnight (the intraday trader's VWAP); on daily bars it
degenerates to the typical price, which is why it is not a default column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_core.indicators import _kernels
from trading_core.indicators._series import as_array, check_period, series


def obv(close: pd.Series, volume: pd.Series) -> pd.Series:
    """On-balance volume (column ``obv``).

    Cumulative from the first bar given: its *level* depends on where the series starts and
    only its changes are comparable between two histories.
    """
    values = _kernels.obv(as_array(close, "close"), as_array(volume, "volume"))
    return series(values, close.index, "obv")


def _typical_volume(
    high: pd.Series, low: pd.Series, close: pd.Series, volume: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    typical = (as_array(high, "high") + as_array(low, "low") + as_array(close, "close")) / 3.0
    vol = as_array(volume, "volume")
    return typical * vol, vol


def vwap(
    high: pd.Series, low: pd.Series, close: pd.Series, volume: pd.Series, n: int = 20
) -> pd.Series:
    """Rolling VWAP of the typical price over ``n`` bars (``vwap_<n>``); NaN on zero volume."""
    check_period("n", n)
    traded, vol = _typical_volume(high, low, close, volume)
    return series(_kernels.window_ratio_of_sums(traded, vol, n), close.index, f"vwap_{n}")


def session_vwap(
    ts: pd.Series, high: pd.Series, low: pd.Series, close: pd.Series, volume: pd.Series
) -> pd.Series:
    """VWAP accumulated since the UTC midnight of each bar's open time (``vwap_session``)."""
    traded, vol = _typical_volume(high, low, close, volume)
    days = pd.to_datetime(ts).dt.floor("D").to_numpy().astype("datetime64[D]").astype(np.int64)
    return series(_kernels.session_ratio_of_sums(traded, vol, days), close.index, "vwap_session")
