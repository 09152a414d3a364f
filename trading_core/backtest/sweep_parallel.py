"""The parallel (``prange``) drivers of ``sweep_kernel``: the same scenarios, the same bits.

Loading a cached ``parallel=True`` function starts numba's threading layer, which costs more
than a short sweep takes on 2 cores (STACK.md: 1.3-2.1 s); ``sweep.py`` imports this module
only when a sweep's work (scenarios x bars) reaches ``sweep.PARALLEL_MIN_WORK``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from trading_core.backtest.sweep_kernel import OUT_FIELDS, macd_scenario, simulate


@njit(cache=True, parallel=True)
def run_macd_parallel(
    ohlc: np.ndarray,
    emas: np.ndarray,
    fast_row: np.ndarray,
    slow_row: np.ndarray,
    signal: np.ndarray,
    rules: np.ndarray,
    start: int,
    conventions: np.ndarray,
) -> np.ndarray:
    """``sweep_kernel.run_macd`` with the scenarios spread over the cores."""
    out = np.empty((signal.shape[0], len(OUT_FIELDS)))
    for s in prange(signal.shape[0]):
        macd_scenario(ohlc, emas, fast_row, slow_row, signal, rules, start, conventions, s, out)
    return out


@njit(cache=True, parallel=True)
def run_signals_parallel(
    ohlc: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    levels: bool,
    stop_lv: np.ndarray,
    take_lv: np.ndarray,
    limit_lv: np.ndarray,
    fraction_lv: np.ndarray,
    rules: np.ndarray,
    start: int,
    conventions: np.ndarray,
) -> np.ndarray:
    """``sweep_kernel.run_signals`` with the scenarios spread over the cores."""
    out = np.empty((entries.shape[0], len(OUT_FIELDS)))
    none = np.zeros(0)
    # the level rows of each scenario (one shared empty row without levels); an array,
    # because prange's unsigned index would turn ``s if levels else 0`` into a float
    rows = np.arange(entries.shape[0]) if levels else np.zeros(entries.shape[0], np.int64)
    for s in prange(entries.shape[0]):
        k = rows[s]
        simulate(
            ohlc[0], ohlc[1], ohlc[2], ohlc[3], False, none, none, 1, entries[s], exits[s],
            levels, stop_lv[k], take_lv[k], limit_lv[k], fraction_lv[k], start,
            conventions[0], conventions[1], conventions[2], conventions[3] != 0.0,
            int(conventions[4]), conventions[5] != 0.0, rules[s, 0], rules[s, 1], rules[s, 2],
            conventions[6], conventions[7], out[s],
        )  # fmt: skip
    return out
