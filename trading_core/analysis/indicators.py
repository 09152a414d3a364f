"""What the bias tools compare: a strategy's signals plus the indicators behind them.

``analysis_frame(strategy, bars)`` is one row per bar with

- the signal columns of ``Strategy.signals`` (``entry``, ``exit``, levels, sizes, reason);
- every other column ``compute`` returns (a user strategy exposes its indicators simply by
  returning them from ``compute``; ``signals`` ignores them);
- for a built-in, the indicator series its ``compute`` uses, recomputed here with the same
  functions and parameters (built-ins return only their signals).

``INDICATOR_KINDS`` names each column "signal" or "indicator" for the reports.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Literal

import numpy as np
import pandas as pd

from trading_core import signals as composite_signals
from trading_core.backtest.data import DataError, check_bars
from trading_core.indicators import INDICATOR_COLUMNS, adx, bollinger, compute_all, ema, macd, rsi
from trading_core.strategies import (
    SIGNAL_COLUMNS,
    ArbitrageStrategy,
    CompositeStrategy,
    GridStrategy,
    MacdStrategy,
    ScalpingStrategy,
    Strategy,
    SwingStrategy,
)


def _macd(s: MacdStrategy, bars: pd.DataFrame) -> pd.DataFrame:
    p = s.params
    return macd(bars["close"], p.fast, p.slow, p.signal, p.convention)


def _swing(s: SwingStrategy, bars: pd.DataFrame) -> pd.DataFrame:
    p = s.params
    close = bars["close"]
    return pd.concat([rsi(close, p.rsi_period), bollinger(close, p.bb_period, p.bb_std)], axis=1)


def _scalping(s: ScalpingStrategy, bars: pd.DataFrame) -> pd.DataFrame:
    p = s.params
    close = bars["close"]
    momentum = (close / close.shift(p.momentum_bars) - 1.0) * 10_000.0
    return pd.concat(
        [ema(close, p.ema_period), momentum.rename(f"momentum_bps_{p.momentum_bars}")], axis=1
    )


def _grid(s: GridStrategy, bars: pd.DataFrame) -> pd.DataFrame:
    p = s.params
    parts = [
        bars["low"].rolling(p.lookback, min_periods=p.lookback).min().rename("range_bottom"),
        bars["high"].rolling(p.lookback, min_periods=p.lookback).max().rename("range_top"),
    ]
    if p.max_adx is not None:
        parts.append(adx(bars["high"], bars["low"], bars["close"], 14)["adx_14"])
    return pd.concat(parts, axis=1)


def _composite(s: CompositeStrategy, bars: pd.DataFrame) -> pd.DataFrame:
    if all(c in bars.columns for c in INDICATOR_COLUMNS):
        return pd.DataFrame(index=bars.index)  # the bars carry them: inputs, not outputs
    used = sorted(
        {
            column
            for name, weight in s.params.weights.items()
            if weight > 0
            for column in composite_signals.SIGNAL_INPUTS[name].columns
            if column in INDICATOR_COLUMNS
        }
    )
    return compute_all(bars)[used]


def _arbitrage(s: ArbitrageStrategy, bars: pd.DataFrame) -> pd.DataFrame:
    spread = (bars["close_b"] / bars["close_a"] - 1.0) * 10_000.0
    return spread.rename("spread_bps").to_frame()


BUILTIN_INDICATORS: dict[type[Strategy], Callable[..., pd.DataFrame]] = {
    MacdStrategy: _macd,
    SwingStrategy: _swing,
    ScalpingStrategy: _scalping,
    GridStrategy: _grid,
    CompositeStrategy: _composite,
    ArbitrageStrategy: _arbitrage,
}


def checked_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """``bars`` if non-empty, time-ordered and with finite prices; else a ``DataError``."""
    bars = check_bars(bars)
    if bars.empty:
        raise DataError("bars: no rows to analyse")
    for column in ("open", "high", "low", "close"):
        values = pd.to_numeric(bars[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise DataError(
                f"bars: column {column!r} has {len(bad)} missing or non-finite value(s), "
                f"first at row {int(bad[0])} ({bars[column].iloc[int(bad[0])]!r})"
            )
    return bars


def _signals_of(strategy: Strategy, bars: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """``strategy.signals(bars)`` from an already computed ``raw`` (compute runs once)."""
    frozen = SimpleNamespace(
        name=strategy.name, required_columns=strategy.required_columns, compute=lambda _: raw
    )
    return Strategy.signals(frozen, bars)  # type: ignore[arg-type]


def analysis_frame(strategy: Strategy, bars: pd.DataFrame) -> pd.DataFrame:
    """Signals, then indicator columns, one row per bar of ``bars`` (module docstring)."""
    raw = strategy.compute(bars)
    out = _signals_of(strategy, bars, raw)
    extra = [c for c in raw.columns if c not in SIGNAL_COLUMNS]
    parts = [out, raw[extra]] if extra else [out]
    builtin = BUILTIN_INDICATORS.get(type(strategy))
    if builtin is not None:
        parts.append(builtin(strategy, bars).drop(columns=extra, errors="ignore"))
    frame = pd.concat(parts, axis=1)
    return frame.loc[:, ~frame.columns.duplicated()]


def column_kind(column: str) -> Literal["signal", "indicator"]:
    """The kind of a column: "signal" (of ``SIGNAL_COLUMNS``) or "indicator"."""
    return "signal" if column in SIGNAL_COLUMNS else "indicator"


def numeric_indicators(frame: pd.DataFrame) -> list[str]:
    """The indicator columns holding numbers (what the recursive analysis measures)."""
    return [
        c
        for c in frame.columns
        if column_kind(c) == "indicator"
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
