"""Per-scenario signal arrays for the sweep kernel, from each strategy's own signals.

``SignalSource(bars).arrays(strategy)`` gives the columns the kernel reads (``entry``,
``exit``, ``stop_loss``, ``take_profit``, ``limit_price``, ``size_fraction``) as NumPy arrays:
the strategy's ``signals`` as live decides them (``decision_signals``: held spikes). Swing
sweeps build theirs in compiled code instead (``sweep_swing``), except where a held spike
changes later bars' decisions; the sweep tests check every row of both paths against the
reference backtester.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def checked_levels(signals: Mapping[str, Any], row: int) -> None:
    """The engine refuses these levels on an entry bar (``position_sizing``); so do we."""
    entry = np.asarray(signals["entry"], dtype=bool)
    for column in ("stop_loss", "take_profit", "limit_price"):
        values = np.asarray(signals[column], dtype=float)[entry]
        bad = ~np.isnan(values) & ~(np.isfinite(values) & (values > 0))
        if bad.any():
            raise ValueError(
                f"{column} (row {row}): an entry's level must be a finite price > 0 or NaN, "
                f"got {values[bad][0]}"
            )
    fractions = np.asarray(signals["size_fraction"], dtype=float)[entry]
    bad = ~(np.isfinite(fractions) & (fractions >= 0))
    if bad.any():
        raise ValueError(
            f"size_fraction (row {row}): must be a finite number >= 0, got {fractions[bad][0]}"
        )


def uses_levels(arrays: dict[str, np.ndarray]) -> bool:
    """Whether the kernel must read per-bar levels (any level set, any partial size)."""
    return bool(
        not all(np.isnan(arrays[k]).all() for k in ("stop_loss", "take_profit", "limit_price"))
        or (arrays["size_fraction"] != 1.0).any()
    )


def signal_matrix(batch: list[dict[str, np.ndarray]], column: str, levels: bool) -> np.ndarray:
    """One level column of a batch as a matrix for the kernel (empty when no level is read)."""
    if not levels:
        return np.zeros((1, 0))
    return np.ascontiguousarray(np.stack([a[column] for a in batch]), dtype=np.float64)
