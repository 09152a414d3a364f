"""Every default indicator column for one OHLCV series: what dbt and the CLI compute.

Columns are named ``<indicator>_<params>``. ``compute_all`` uses the TA-Lib convention by
default (EMA seeded with an SMA); ``convention="pandas"`` switches EMAs and MACD to
``ewm(adjust=False)`` under the same column names, so the caller must state which one a table
holds. The ``macd`` strategy computes its own pandas-convention MACD and does not read these
columns.

``WARMUP[column]`` is the index of the first non-NaN value (every earlier value is NaN).
``SETTLE[column]`` is how many further bars it takes for a recursive column to forget its
seed: from bar ``WARMUP + SETTLE`` on, the seed's influence has decayed by a factor 1e-9, so
the value agrees with one computed on a longer history to ~1e-9 of the series' scale.
Window columns (SMA-type: SMA, Bollinger, Stochastic, CCI, Williams %R, ROC, VWAP) have
``SETTLE == 0`` and are bit-identical whatever the history. ``obv`` is a running total whose
level depends on the first bar given; only its changes are comparable (it has no SETTLE).

``settle_bars(tolerance)`` is SETTLE for another decay factor, and ``history_needed(tolerance)``
the bars of history before a bar that fix every column but ``obv`` at that bar to
``tolerance`` (relative to the seed's error): what an incremental recomputation re-reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from trading_core.indicators._series import Convention, check_convention
from trading_core.indicators.moving_averages import ema, macd, sma
from trading_core.indicators.oscillators import cci, roc, rsi, stochastic, williams_r
from trading_core.indicators.trend import adx
from trading_core.indicators.volatility import atr, bollinger, keltner
from trading_core.indicators.volume import obv, vwap

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")

EMA_PERIODS: tuple[int, ...] = (9, 21, 50, 200)


def _settle(alpha: float, tolerance: float = 1e-9) -> int:
    """Bars for a first-order recursion with smoothing ``alpha`` to shrink an error by
    ``tolerance``: the smallest k with (1 - alpha) ** k <= tolerance."""
    return math.ceil(math.log(tolerance) / math.log(1.0 - alpha))


def _ema_settle(n: int, tolerance: float = 1e-9) -> int:
    return _settle(2.0 / (n + 1), tolerance)


def _wilder_settle(n: int, tolerance: float = 1e-9) -> int:
    return _settle(1.0 / n, tolerance)


WARMUP: dict[str, int] = {
    "sma_20": 19,
    "sma_50": 49,
    **{f"ema_{n}": n - 1 for n in EMA_PERIODS},
    "macd_12_26_9": 33,
    "macd_signal_12_26_9": 33,
    "macd_hist_12_26_9": 33,
    "rsi_14": 14,
    "bb_upper_20_2": 19,
    "bb_middle_20_2": 19,
    "bb_lower_20_2": 19,
    "bb_width_20_2": 19,
    "atr_14": 14,
    "adx_14": 27,
    "plus_di_14": 14,
    "minus_di_14": 14,
    "stoch_k_14_3": 17,
    "stoch_d_14_3_3": 17,
    "obv": 0,
    "vwap_20": 19,
    "cci_20": 19,
    "willr_14": 13,
    "roc_10": 10,
    "keltner_upper_20_2": 20,
    "keltner_middle_20_2": 20,
    "keltner_lower_20_2": 20,
}

INDICATOR_COLUMNS: tuple[str, ...] = tuple(WARMUP)


def settle_bars(tolerance: float = 1e-9) -> dict[str, int]:
    """Per column but ``obv``: bars after its warm-up until its seed's influence has decayed
    by ``tolerance`` (0 for window columns, which have no seed)."""
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance}")
    macd = _ema_settle(26, tolerance) + _ema_settle(9, tolerance)
    keltner = max(_ema_settle(20, tolerance), _wilder_settle(20, tolerance))
    wilder = _wilder_settle(14, tolerance)
    return {
        **{column: 0 for column in INDICATOR_COLUMNS if column != "obv"},
        **{f"ema_{n}": _ema_settle(n, tolerance) for n in EMA_PERIODS},
        "macd_12_26_9": _ema_settle(26, tolerance),
        "macd_signal_12_26_9": macd,
        "macd_hist_12_26_9": macd,
        "rsi_14": wilder,
        "atr_14": wilder,
        # ADX smooths DX, itself made of Wilder sums: two cascaded recursions.
        "adx_14": 2 * wilder + 14,
        "plus_di_14": wilder,
        "minus_di_14": wilder,
        "keltner_upper_20_2": keltner,
        "keltner_middle_20_2": keltner,
        "keltner_lower_20_2": keltner,
    }


SETTLE: dict[str, int] = settle_bars(1e-9)


def history_needed(tolerance: float = 1e-13) -> int:
    """Bars before a bar that a computation must start from for every column but ``obv`` to
    agree at that bar with one started at any earlier bar, to ``tolerance`` of the seed's
    error (window columns exactly). ``obv`` is a running total: resume it from its stored
    value instead. The default gives 3,193 bars, set by ema_200."""
    settle = settle_bars(tolerance)
    return max(WARMUP[column] + bars for column, bars in settle.items())


def check_ohlcv(frame: pd.DataFrame) -> None:
    """Refuse a frame that lacks a price column or whose rows are not in time order."""
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"OHLCV frame lacks columns {missing}; expected at least {list(PRICE_COLUMNS)}"
        )
    for time_column in ("ts", "timestamp"):
        if time_column in frame.columns:
            times = pd.to_datetime(frame[time_column])
            if not times.is_monotonic_increasing or times.duplicated().any():
                raise ValueError(f"rows must be in strictly increasing {time_column!r} order")
            break


def compute_all(ohlcv: pd.DataFrame, convention: Convention = "talib") -> pd.DataFrame:
    """Every column of ``INDICATOR_COLUMNS`` for one series, on the input's index.

    ``ohlcv`` holds one exchange/symbol/timeframe, oldest bar first, with columns ``open``,
    ``high``, ``low``, ``close``, ``volume`` (other columns are ignored). Join the result back
    with ``pd.concat([ohlcv, compute_all(ohlcv)], axis=1)``.
    """
    check_ohlcv(ohlcv)
    check_convention(convention)
    high, low, close, volume = ohlcv["high"], ohlcv["low"], ohlcv["close"], ohlcv["volume"]
    parts: list[pd.Series | pd.DataFrame] = [sma(close, 20), sma(close, 50)]
    parts += [ema(close, n, convention) for n in EMA_PERIODS]
    parts += [
        macd(close, 12, 26, 9, convention),
        rsi(close, 14),
        bollinger(close, 20, 2.0),
        atr(high, low, close, 14),
        adx(high, low, close, 14),
        stochastic(high, low, close, 14, 3, 3),
        obv(close, volume),
        vwap(high, low, close, volume, 20),
        cci(high, low, close, 20),
        williams_r(high, low, close, 14),
        roc(close, 10),
        keltner(high, low, close, 20, 2.0),
    ]
    return pd.concat(parts, axis=1)[list(INDICATOR_COLUMNS)]


def compute_per_series(
    frame: pd.DataFrame,
    keys: Sequence[str] = ("exchange", "symbol", "timeframe"),
    time_column: str = "ts",
    convention: Convention = "talib",
) -> pd.DataFrame:
    """``compute_all`` applied to each series of a long frame (e.g. a dbt Python model).

    Returns ``keys``, ``time_column`` and every indicator column, one row per input row,
    each series sorted by time. An empty input gives an empty frame with those columns.
    """
    missing = [c for c in (*keys, time_column) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks columns {missing}")
    out_columns = [*keys, time_column, *INDICATOR_COLUMNS]
    if frame.empty:
        return pd.DataFrame(columns=out_columns)
    pieces = []
    for _, group in frame.groupby(list(keys), sort=True, dropna=False):
        ordered = group.sort_values(time_column).reset_index(drop=True)
        indicators = compute_all(ordered, convention)
        pieces.append(pd.concat([ordered[[*keys, time_column]], indicators], axis=1))
    return pd.concat(pieces, ignore_index=True)[out_columns]
