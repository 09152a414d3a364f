"""Entry conditions shared by the composite and swing strategies: market regime and
multi-timeframe alignment, as parameters (validated, sweepable like any other).

- ``regime_trend``: ``any`` (default, no condition), ``trending_up``, ``trending_down``,
  ``ranging`` or ``not_trending_down``; ``regime_vol``: ``any``, ``high_vol`` or ``low_vol``.
  The regime is :func:`trading_core.signals.classify_regime` on the bar (the bars' own
  ``regime`` column when they carry one, as rows of ``fct_signals`` do); a bar whose regime
  is still ``unknown`` (warm-up) allows no entry when a condition is set.
- ``mtf_timeframes``: higher timeframes (``"4h,1d"``; empty = no condition) that must all be
  in an up-trend for an entry: each is resampled from the bars themselves, its trend is
  close above the simple mean of its last ``mtf_span`` closes, and a higher bar counts
  only once it has closed (:func:`trading_core.signals.confluence`), so the condition has no
  lookahead. A window (not a recursive EMA) so that any history holding ``mtf_span``
  higher bars gives the same values: the live evaluation needs that many bars of history
  (``strategy.lookback_bars`` >= span x higher / own timeframe), else no entry is allowed.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from trading_core import signals
from trading_core.indicators import WARMUP, compute_all
from trading_core.indicators.catalog import settle_bars
from trading_core.strategies.base import WARMUP_TOLERANCE, StrategyParams
from trading_core.timeframes import TIMEFRAME_SECONDS, timeframe_delta, timeframe_seconds

TrendCondition = Literal["any", "trending_up", "trending_down", "ranging", "not_trending_down"]
VolCondition = Literal["any", "high_vol", "low_vol"]
REGIME_COLUMNS = ("adx_14", "plus_di_14", "minus_di_14", "atr_14", "close", "bb_width_20_2")


class RegimeParams(StrategyParams):
    regime_trend: TrendCondition = "any"
    regime_vol: VolCondition = "any"
    mtf_timeframes: str = ""
    mtf_span: int = Field(21, ge=2, le=500)

    @field_validator("mtf_timeframes")
    @classmethod
    def _timeframes(cls, value: str) -> str:
        parts = [p for p in re.split(r"[\s,;|]+", value.strip()) if p]
        for part in parts:
            try:
                timeframe_seconds(part)
            except (ValueError, KeyError) as err:
                raise ValueError(
                    f"mtf_timeframes: {part!r} is not a timeframe (e.g. 4h, 1d): {err}"
                ) from None
        if len(set(parts)) != len(parts):
            raise ValueError(f"mtf_timeframes lists a timeframe twice: {parts}")
        return ",".join(parts)


REGIME_WINDOW = 100  # classify_regime's default volatility window


def condition_warmup_bars(p: RegimeParams) -> int:
    """Bars of history the regime condition needs for full-history values (the slowest
    regime column's first value and settling, plus the volatility window); 0 without one.
    The multi-timeframe condition depends on the bars' timeframe and is not counted: its
    first ``mtf_span`` higher bars allow no entry."""
    if p.regime_trend == "any" and p.regime_vol == "any":
        return 0
    settle = settle_bars(WARMUP_TOLERANCE)
    return max(WARMUP[c] + settle.get(c, 0) for c in REGIME_COLUMNS if c in WARMUP) + (
        REGIME_WINDOW
    )


def _regime(bars: pd.DataFrame) -> pd.Series:
    if "regime" in bars.columns:
        return bars["regime"].fillna("unknown").astype(str)
    frame = (
        bars
        if all(c in bars for c in REGIME_COLUMNS)
        else pd.concat([bars, compute_all(bars)], axis=1)
    )
    return signals.classify_regime(frame)


def _trend_ok(regime: pd.Series, condition: str) -> pd.Series:
    if condition == "not_trending_down":
        return ~regime.str.startswith("trending_down") & (regime != "unknown")
    return regime.str.startswith(condition)


def base_timeframe_seconds(ts: pd.Series) -> int:
    spacing = pd.to_datetime(ts).diff().dropna()
    if spacing.empty:
        raise ValueError("multi-timeframe alignment needs at least two bars")
    return int(spacing.min().total_seconds())


def mtf_aligned(bars: pd.DataFrame, timeframes: list[str], span: int) -> pd.Series:
    """True on bars where every higher timeframe's last closed bar is above the mean of its
    last ``span`` closes."""
    if "ts" not in bars.columns:
        raise ValueError("multi-timeframe alignment needs a 'ts' column")
    base = base_timeframe_seconds(bars["ts"])
    ts = pd.to_datetime(bars["ts"])
    names = [tf for tf, seconds in TIMEFRAME_SECONDS.items() if seconds == base]
    if not names:
        raise ValueError(f"bars spaced {base} s apart are not of a known timeframe")
    frames = {names[0]: pd.DataFrame({"ts": ts, "score": 1.0})}
    for tf in timeframes:
        if timeframe_seconds(tf) <= base:
            raise ValueError(f"mtf_timeframes: {tf} is not above the bars' timeframe ({base} s)")
        bucket = ts.dt.floor(timeframe_delta(tf))
        closes = bars["close"].groupby(bucket.to_numpy()).last()
        average = closes.rolling(span, min_periods=span).mean()
        trend = np.sign(closes - average).where(average.notna())
        frames[tf] = pd.DataFrame({"ts": closes.index, "score": trend.to_numpy()})
    aligned = signals.confluence(frames)
    return pd.Series(aligned["aligned"].to_numpy(dtype=bool), index=bars.index)


def entry_filter(bars: pd.DataFrame, p: RegimeParams) -> tuple[pd.Series, str]:
    """The bars on which ``p``'s regime and alignment conditions allow an entry, and the
    conditions in words (empty when none is set)."""
    allowed = pd.Series(True, index=bars.index)
    words = []
    if p.regime_trend != "any" or p.regime_vol != "any":
        regime = _regime(bars).reindex(bars.index)
        known = regime != "unknown"
        if p.regime_trend != "any":
            allowed &= known & _trend_ok(regime, p.regime_trend)
            words.append(f"regime {p.regime_trend}")
        if p.regime_vol != "any":
            allowed &= known & regime.str.endswith(p.regime_vol)
            words.append(p.regime_vol)
    if p.mtf_timeframes:
        timeframes = p.mtf_timeframes.split(",")
        allowed &= mtf_aligned(bars, timeframes, p.mtf_span)
        words.append(f"{'/'.join(timeframes)} up-trend")
    return allowed, ", ".join(words)
