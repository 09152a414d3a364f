"""RSI / Bollinger swing trading: buy a stretched dip, sell the snap-back.

Entry when RSI is below ``oversold`` AND the close is below the lower Bollinger band; exit
when the close is back at or above the middle band OR RSI rises above ``overbought``.
Optional protective levels are set from the signal bar's close. The regime and
multi-timeframe conditions of :mod:`trading_core.strategies.filters` (``regime_trend``,
``regime_vol``, ``mtf_timeframes``, ``mtf_span``) restrict entries.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field, model_validator

from trading_core.indicators import bollinger, rsi
from trading_core.indicators._series import label
from trading_core.strategies.base import Strategy, reasons, wilder_settle_bars
from trading_core.strategies.filters import RegimeParams, condition_warmup_bars, entry_filter


class SwingParams(RegimeParams):
    rsi_period: int = Field(14, ge=2, le=500)
    bb_period: int = Field(20, ge=2, le=500)
    bb_std: float = Field(2.0, gt=0, le=10)
    oversold: float = Field(30.0, gt=0, lt=100)
    overbought: float = Field(70.0, gt=0, lt=100)
    stop_loss_pct: float | None = Field(None, gt=0, lt=1)
    take_profit_pct: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> SwingParams:
        if self.oversold >= self.overbought:
            raise ValueError(f"oversold ({self.oversold}) must be < overbought ({self.overbought})")
        return self


class SwingStrategy(Strategy):
    name = "swing"
    params_model = SwingParams
    required_columns = ("close",)
    params: SwingParams

    @property
    def warmup(self) -> int:
        return max(self.params.rsi_period, self.params.bb_period - 1)

    @property
    def warmup_bars(self) -> int:
        # Wilder's RSI (first value at rsi_period, then recursive); Bollinger is a window.
        p = self.params
        own = max(p.rsi_period + wilder_settle_bars(p.rsi_period), p.bb_period - 1)
        return max(own, condition_warmup_bars(p))

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        p = self.params
        close = bars["close"]
        strength = rsi(close, p.rsi_period)
        bands = bollinger(close, p.bb_period, p.bb_std)
        suffix = f"{p.bb_period}_{label(p.bb_std)}"
        lower, middle = bands[f"bb_lower_{suffix}"], bands[f"bb_middle_{suffix}"]
        allowed, conditions = entry_filter(bars, p)
        entry = (strength < p.oversold) & (close < lower) & allowed
        exit_ = (close >= middle) | (strength > p.overbought)
        on_entry = f"RSI < {p.oversold:g} and close below the lower band"
        out = pd.DataFrame(
            {
                "entry": entry,
                "exit": exit_,
                "reason": reasons(
                    entry,
                    exit_,
                    f"{on_entry} ({conditions})" if conditions else on_entry,
                    f"close back at the middle band or RSI > {p.overbought:g}",
                ),
            }
        )
        if p.stop_loss_pct is not None:
            out["stop_loss"] = close * (1.0 - p.stop_loss_pct)
        if p.take_profit_pct is not None:
            out["take_profit"] = close * (1.0 + p.take_profit_pct)
        return out
