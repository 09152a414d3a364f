"""Technical indicators: pure functions from pandas Series to Series/DataFrames.

Importable without Dagster (dbt Python models call these). Conventions follow TA-Lib;
EMA and MACD are also available in the pandas/vectorbt convention (``convention="pandas"``).
See ``catalog`` for the default columns, their warm-up and their settling time, and
``history_needed`` for the history an incremental recomputation re-reads.
"""

from trading_core.indicators._series import CONVENTIONS, Convention
from trading_core.indicators.catalog import (
    INDICATOR_COLUMNS,
    PRICE_COLUMNS,
    SETTLE,
    WARMUP,
    check_ohlcv,
    compute_all,
    compute_per_series,
    history_needed,
    settle_bars,
)
from trading_core.indicators.moving_averages import ema, macd, sma
from trading_core.indicators.oscillators import cci, roc, rsi, stochastic, williams_r
from trading_core.indicators.trend import adx
from trading_core.indicators.volatility import atr, bollinger, keltner, true_range
from trading_core.indicators.volume import obv, session_vwap, vwap

__all__ = [
    "CONVENTIONS",
    "INDICATOR_COLUMNS",
    "PRICE_COLUMNS",
    "SETTLE",
    "WARMUP",
    "Convention",
    "adx",
    "atr",
    "bollinger",
    "cci",
    "check_ohlcv",
    "compute_all",
    "compute_per_series",
    "ema",
    "history_needed",
    "keltner",
    "macd",
    "obv",
    "roc",
    "rsi",
    "session_vwap",
    "settle_bars",
    "sma",
    "stochastic",
    "true_range",
    "vwap",
    "williams_r",
]
