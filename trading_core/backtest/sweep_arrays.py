"""Per-scenario signal arrays for the sweep kernel, from each strategy's own signals.

``SignalSource(bars).arrays(strategy)`` gives the columns the kernel reads (``entry``,
``exit``, ``stop_loss``, ``take_profit``, ``limit_price``, ``size_fraction``) as NumPy arrays:
the strategy's ``signals`` as live decides them (``decision_signals``: held spikes). Swing
sweeps build theirs in compiled code instead (``sweep_swing``), except where a held spike
changes later bars' decisions; the sweep tests check every row of both paths against the
reference backtester.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_core.backtest.decisions import decision_signals
from trading_core.strategies import Strategy

SIGNAL_ARRAYS: tuple[str, ...] = (
    "entry",
    "exit",
    "stop_loss",
    "take_profit",
    "limit_price",
    "size_fraction",
)


class SignalSource:
    """Signal arrays of many strategies on one frame of bars."""

    def __init__(self, bars: pd.DataFrame) -> None:
        self.bars = bars

    def arrays(self, strategy: Strategy) -> dict[str, np.ndarray]:
        frame = decision_signals(strategy, self.bars)
        return {
            k: frame[k].to_numpy(dtype=bool if k in ("entry", "exit") else float)
            for k in SIGNAL_ARRAYS
        }
