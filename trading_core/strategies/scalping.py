"""Scalping: short-term momentum on 1m-5m bars, optionally confirmed by the order book.

Entry when the close rose at least ``entry_bps`` over the last ``momentum_bars`` bars, the
close is above its EMA(``ema_period``) and, when the bars carry a ``book_imbalance`` column
((bid - ask) / (bid + ask) volume near the touch, in [-1, 1]), the imbalance is at least
``min_imbalance``. Exit when momentum turns negative and the close falls below the EMA.
Every entry carries a tight stop-loss and take-profit from the signal bar's close.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field

from trading_core.indicators import ema
from trading_core.strategies.base import Strategy, StrategyParams, ema_settle_bars, reasons


class ScalpingParams(StrategyParams):
    momentum_bars: int = Field(3, ge=1, le=100)
    entry_bps: float = Field(15.0, gt=0, le=10_000)
    ema_period: int = Field(9, ge=2, le=500)
    min_imbalance: float = Field(0.2, ge=-1, le=1)
    stop_loss_pct: float = Field(0.003, gt=0, lt=1)
    take_profit_pct: float = Field(0.006, gt=0)


class ScalpingStrategy(Strategy):
    name = "scalping"
    params_model = ScalpingParams
    required_columns = ("close",)
    params: ScalpingParams

    @property
    def warmup(self) -> int:
        return max(self.params.momentum_bars, self.params.ema_period - 1)

    @property
    def warmup_bars(self) -> int:
        # TA-Lib EMA: first value at ema_period - 1 (an SMA seed), then recursive.
        p = self.params
        return max(p.momentum_bars, p.ema_period - 1 + ema_settle_bars(p.ema_period))

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        p = self.params
        close = bars["close"]
        momentum_bps = (close / close.shift(p.momentum_bars) - 1.0) * 10_000.0
        average = ema(close, p.ema_period)
        entry = (momentum_bps >= p.entry_bps) & (close > average)
        why = f"momentum >= {p.entry_bps:g} bps over {p.momentum_bars} bars above EMA"
        if "book_imbalance" in bars.columns:
            entry &= bars["book_imbalance"] >= p.min_imbalance
            why += f", book imbalance >= {p.min_imbalance:g}"
        exit_ = (momentum_bps < 0) & (close < average)
        return pd.DataFrame(
            {
                "entry": entry,
                "exit": exit_,
                "stop_loss": close * (1.0 - p.stop_loss_pct),
                "take_profit": close * (1.0 + p.take_profit_pct),
                "reason": reasons(entry, exit_, why, "momentum turned down below EMA"),
            }
        )
