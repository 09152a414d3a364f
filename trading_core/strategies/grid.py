"""Range grid: buy limit orders on grid levels inside a recent range, sell one level up.

The range is the lowest low and highest high of the last ``lookback`` bars (this bar
included), cut into ``levels`` equal steps. While flat, each bar places a buy limit on the
grid level strictly below the close, valid for the next bar; a fill takes profit one step
higher and stops out ``stop_pct`` below the range. With ``max_adx`` set, the grid only trades
while ADX(14) is below it (a range, not a trend) and exits when a trend starts.

The backtester holds one position at a time, so this is one grid leg at a time committing
``order_fraction`` of cash; a multi-leg inventory grid needs a portfolio backtester.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from trading_core.indicators import adx
from trading_core.strategies.base import Strategy, StrategyParams, reasons, wilder_settle_bars


class GridParams(StrategyParams):
    lookback: int = Field(100, ge=2, le=10_000)
    levels: int = Field(10, ge=2, le=1000)
    stop_pct: float = Field(0.02, gt=0, lt=1)
    max_adx: float | None = Field(25.0, gt=0, le=100)
    order_fraction: float = Field(1.0, gt=0, le=1)


class GridStrategy(Strategy):
    name = "grid"
    params_model = GridParams
    params: GridParams

    @property
    def warmup(self) -> int:
        return max(self.params.lookback - 1, 27 if self.params.max_adx is not None else 0)

    @property
    def warmup_bars(self) -> int:
        # ADX(14): first value at 27, two cascaded Wilder recursions (catalog.settle_bars).
        p = self.params
        adx_bars = 27 + 2 * wilder_settle_bars(14) + 14 if p.max_adx is not None else 0
        return max(p.lookback - 1, adx_bars)

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        p = self.params
        close = bars["close"]
        bottom = bars["low"].rolling(p.lookback, min_periods=p.lookback).min()
        top = bars["high"].rolling(p.lookback, min_periods=p.lookback).max()
        step = (top - bottom) / p.levels
        below = np.floor((close - bottom) / step.where(step > 0))
        # A close sitting exactly on a level buys one level lower: never at the market.
        on_level = bottom + below * step == close
        level = bottom + (below - on_level.astype(float)) * step
        entry = (step > 0) & (level >= bottom) & (close < top)
        exit_ = pd.Series(False, index=bars.index)
        why = f"grid level below the close in a {p.lookback}-bar range"
        if p.max_adx is not None:
            strength = adx(bars["high"], bars["low"], close, 14)["adx_14"]
            entry &= strength < p.max_adx
            exit_ = strength >= p.max_adx
        return pd.DataFrame(
            {
                "entry": entry,
                "exit": exit_,
                "limit_price": level.where(entry),
                "take_profit": (level + step).where(entry),
                "stop_loss": (bottom * (1.0 - p.stop_pct)).where(entry),
                "size_fraction": p.order_fraction,
                "reason": reasons(entry, exit_, why, "ADX says the range became a trend"),
            }
        )
