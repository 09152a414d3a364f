"""Per-scenario signal arrays for the sweep kernel, computing each indicator once per sweep.

``SignalSource(bars).arrays(strategy)`` gives the columns the kernel reads (``entry``,
``exit``, ``stop_loss``, ``take_profit``, ``limit_price``, ``size_fraction``) as NumPy arrays.
For ``swing`` it evaluates ``SwingStrategy.compute``'s rules on indicators cached by their
parameters (an RSI per period, a Bollinger band per period and width), calling the very
indicator functions the strategy calls - a sweep over thresholds then costs a few array
comparisons per row. Every other strategy goes through its own ``signals(bars)``. The
sweep tests check every row of both paths against the reference backtester.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_core.backtest.decisions import decision_signals, may_decide, only_held_affected
from trading_core.indicators import bollinger, rsi
from trading_core.indicators._series import label
from trading_core.strategies import Strategy
from trading_core.strategies.swing import SwingParams

SIGNAL_ARRAYS: tuple[str, ...] = (
    "entry",
    "exit",
    "stop_loss",
    "take_profit",
    "limit_price",
    "size_fraction",
)


class SignalSource:
    """Signal arrays of many strategies on one frame of bars, indicators cached."""

    def __init__(self, bars: pd.DataFrame) -> None:
        self.bars = bars
        # held spikes (``decisions``): no decision at a held bar; where bars were decided
        # while another was held, each strategy's own decisions are recomputed (exact, slower)
        self._decide = may_decide(bars)
        self._masked = only_held_affected(bars)
        self.close = bars["close"]
        self._close = self.close.to_numpy(dtype=float)
        self._rsi: dict[int, np.ndarray] = {}
        self._bands: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = {}
        # shared, never written: "no level" and "all-in" for every row that sets none
        self._nothing = np.full(self._close.shape, np.nan)
        self._all_in = np.ones(self._close.shape)

    def arrays(self, strategy: Strategy) -> dict[str, np.ndarray]:
        if isinstance(strategy.params, SwingParams) and strategy.name == "swing" and self._masked:
            out = self._swing(strategy.params)
            return {**out, "entry": out["entry"] & self._decide, "exit": out["exit"] & self._decide}
        frame = decision_signals(strategy, self.bars)
        return {
            k: frame[k].to_numpy(dtype=bool if k in ("entry", "exit") else float)
            for k in SIGNAL_ARRAYS
        }

    def _strength(self, period: int) -> np.ndarray:
        if period not in self._rsi:
            self._rsi[period] = rsi(self.close, period).to_numpy()
        return self._rsi[period]

    def _band(self, period: int, width: float) -> tuple[np.ndarray, np.ndarray]:
        key = (period, width)
        if key not in self._bands:
            bands = bollinger(self.close, period, width)
            suffix = f"{period}_{label(width)}"
            self._bands[key] = (
                bands[f"bb_lower_{suffix}"].to_numpy(),
                bands[f"bb_middle_{suffix}"].to_numpy(),
            )
        return self._bands[key]

    def _swing(self, p: SwingParams) -> dict[str, np.ndarray]:
        close = self._close
        strength = self._strength(p.rsi_period)
        lower, middle = self._band(p.bb_period, p.bb_std)
        nothing = self._nothing
        entry = (strength < p.oversold) & (close < lower)
        if p.regime_trend != "any" or p.regime_vol != "any" or p.mtf_timeframes:
            from trading_core.strategies.filters import entry_filter  # the strategy's own rule

            entry = entry & entry_filter(self.bars, p)[0].to_numpy(dtype=bool)
        return {
            "entry": entry,
            "exit": (close >= middle) | (strength > p.overbought),
            "stop_loss": nothing if p.stop_loss_pct is None else close * (1.0 - p.stop_loss_pct),
            "take_profit": nothing
            if p.take_profit_pct is None
            else close * (1.0 + p.take_profit_pct),
            "limit_price": nothing,
            "size_fraction": self._all_in,
        }
