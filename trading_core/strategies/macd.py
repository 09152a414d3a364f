"""MACD trend following: long while MACD is above its signal line.

Entry on the bar where MACD crosses above its signal line (previous bar strictly below, this
bar strictly above); exit on the opposite cross. EMAs default to the pandas/vectorbt
convention so that backtests match vectorbt's ``Portfolio.from_signals`` exactly.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field, model_validator

from trading_core.indicators import Convention, macd
from trading_core.strategies.base import (
    Strategy,
    StrategyParams,
    crossed_above,
    ema_settle_bars,
    reasons,
)


class MacdParams(StrategyParams):
    fast: int = Field(12, ge=2, le=1000, description="fast EMA span")
    slow: int = Field(26, ge=3, le=2000, description="slow EMA span, > fast")
    signal: int = Field(9, ge=2, le=1000, description="signal-line EMA span")
    convention: Convention = Field("pandas", description="EMA seeding: 'pandas' or 'talib'")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> MacdParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be < slow ({self.slow})")
        return self


class MacdStrategy(Strategy):
    name = "macd"
    params_model = MacdParams
    required_columns = ("close",)
    params: MacdParams

    @property
    def warmup(self) -> int:
        # The first bar whose previous bar already has a signal-line value.
        return self.params.slow + self.params.signal - 1

    @property
    def warmup_bars(self) -> int:
        # The slow EMA settles (the fast one sooner), then the signal EMA of the settled
        # line; one more bar because a crossing compares with the previous bar.
        p = self.params
        settled = ema_settle_bars(p.slow) + ema_settle_bars(p.signal) + 1
        seeds = p.slow - 1 + p.signal - 1 if p.convention == "talib" else 0
        return max(self.warmup, settled + seeds)

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        p = self.params
        lines = macd(bars["close"], p.fast, p.slow, p.signal, p.convention)
        suffix = f"{p.fast}_{p.slow}_{p.signal}"
        line, trigger = lines[f"macd_{suffix}"], lines[f"macd_signal_{suffix}"]
        entry = crossed_above(line, trigger)
        exit_ = crossed_above(trigger, line)
        return pd.DataFrame(
            {
                "entry": entry,
                "exit": exit_,
                "reason": reasons(
                    entry,
                    exit_,
                    f"MACD({suffix}) crossed above its signal line",
                    f"MACD({suffix}) crossed below its signal line",
                ),
            }
        )
