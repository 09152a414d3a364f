"""A strategy with lookahead bias, on purpose: ``trading lookahead-analysis`` must flag it.

It buys when the NEXT bar closes higher and sells when the next bar closes lower - bar ``t``
reads bar ``t + 1`` through ``shift(-1)``. A backtest of it looks wonderful and is worthless:
live, the next close is not known when the bar closes. Cutting the data right after a signal
bar removes that next bar, so the signal on the cut bar disappears, and the analysis names the
columns (``next_close``, ``entry``/``exit``) and the first bar that changed.

    trading lookahead-analysis --ohlcv ../shared/data/market/binance_BTCUSDT_1d.csv \\
        --strategy-file examples/strategies/lookahead_example.py
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field

from trading_core.strategies import Strategy, StrategyParams
from trading_core.strategies.base import reasons


class PeekParams(StrategyParams):
    min_move: float = Field(0.0, ge=0, lt=1, description="next-bar move that triggers")


class PeekAheadStrategy(Strategy):
    name = "lookahead_example"
    params_model = PeekParams
    required_columns = ("close",)
    params: PeekParams

    @property
    def warmup(self) -> int:
        return 0

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        close = bars["close"]
        next_close = close.shift(-1)  # the bias: tomorrow's close, today
        move = next_close / close - 1.0
        entry = move > self.params.min_move
        exit_ = move < -self.params.min_move
        return pd.DataFrame(
            {
                "entry": entry,
                "exit": exit_,
                "next_close": next_close,
                "reason": reasons(entry, exit_, "the next close is higher", "it is lower"),
            }
        )
