"""EMA crossover: a complete user strategy, runnable with ``--strategy-file``.

    trading backtest --ohlcv ../shared/data/market/binance_BTCUSDT_1d.csv \\
        --strategy-file examples/strategies/ema_cross.py --param fast=10 --param slow=40
    trading lookahead-analysis --ohlcv FILE.csv --strategy-file examples/strategies/ema_cross.py
    trading recursive-analysis --ohlcv FILE.csv --strategy-file examples/strategies/ema_cross.py

A strategy file defines exactly one ``Strategy`` subclass with

- ``name``: the registry name (lowercase identifier, not a built-in's); a sweep's results and
  ``strategies:`` instances use it;
- ``params_model``: a ``StrategyParams`` (pydantic) model; unknown or invalid ``--param``
  values are errors naming the parameter, its default and the file;
- ``required_columns``: the bar columns ``compute`` reads;
- ``warmup``: the first bar that can signal; ``warmup_bars``: bars of history a backtest
  window needs before its first bar for the indicators to equal their full-history values
  (``trading recursive-analysis`` measures it);
- ``compute(bars)``: one row per bar with ``entry``/``exit`` (bool) and optionally
  ``stop_loss``, ``take_profit``, ``limit_price``, ``size_fraction``, ``reason``. Bar ``t``
  may use bars ``0..t`` only (``trading lookahead-analysis`` checks it). Any other column
  returned (here the two EMAs) is ignored by trading and checked by the analysis tools.

Long when the fast EMA crosses above the slow one, flat on the opposite cross; with
``stop_loss_pct`` set, each entry carries a stop that far below the signal bar's close.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field, model_validator

from trading_core.indicators import ema
from trading_core.strategies import Strategy, StrategyParams, crossed_above
from trading_core.strategies.base import ema_settle_bars, reasons


class EmaCrossParams(StrategyParams):
    fast: int = Field(12, ge=2, le=1000, description="fast EMA span")
    slow: int = Field(26, ge=3, le=2000, description="slow EMA span, > fast")
    stop_loss_pct: float | None = Field(None, gt=0, lt=1, description="stop below the close")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> EmaCrossParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be < slow ({self.slow})")
        return self


class EmaCrossStrategy(Strategy):
    name = "ema_cross"
    params_model = EmaCrossParams
    required_columns = ("close",)
    params: EmaCrossParams

    @property
    def warmup(self) -> int:
        # pandas-convention EMAs have a value from the first bar; a cross needs two bars.
        return 1

    @property
    def warmup_bars(self) -> int:
        # The slow EMA forgets its seed last; one more bar for the crossing's previous bar.
        return ema_settle_bars(self.params.slow) + 1

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        p = self.params
        close = bars["close"]
        fast = ema(close, p.fast, convention="pandas")
        slow = ema(close, p.slow, convention="pandas")
        entry = crossed_above(fast, slow)
        exit_ = crossed_above(slow, fast)
        out = pd.DataFrame(
            {
                "entry": entry,
                "exit": exit_,
                "reason": reasons(
                    entry,
                    exit_,
                    f"EMA({p.fast}) crossed above EMA({p.slow})",
                    f"EMA({p.fast}) crossed below EMA({p.slow})",
                ),
                f"ema_{p.fast}": fast,
                f"ema_{p.slow}": slow,
            }
        )
        if p.stop_loss_pct is not None:
            out["stop_loss"] = close * (1.0 - p.stop_loss_pct)
        return out
