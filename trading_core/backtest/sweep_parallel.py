"""The parallel (``prange``) drivers of ``sweep_kernel``: the same scenarios, the same bits.

Loading a cached ``parallel=True`` function starts numba's threading layer, which costs more
than a short sweep takes on 2 cores (STACK.md: 1.3-2.1 s); ``sweep.py`` imports this module
only when a sweep's work (scenarios x bars) reaches ``sweep.PARALLEL_MIN_WORK``. Each driver
calls the per-scenario function its serial twin calls, so the two cannot drift apart.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from trading_core.aot import use_source_keyed_cache
from trading_core.backtest.sweep_kernel import (
    OUT_FIELDS,
    macd_group,
    macd_pairs,
    plain_inputs,
    signals_scenario,
)

use_source_keyed_cache()  # numba's cache keyed by the kernels' sources (trading_core.aot)


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
    moments: np.ndarray,
) -> np.ndarray:
    """``sweep_kernel.run_macd`` with its (fast, slow) pairs spread over the cores."""
    out = np.empty((signal.shape[0], len(OUT_FIELDS)))
    returns, bounds = plain_inputs(ohlc[3], False, rules, conventions, start, moments.shape[1])
    order, groups = macd_pairs(fast_row, slow_row)
    for g in prange(groups.shape[0] - 1):
        macd_group(
            ohlc, emas, fast_row, slow_row, signal, rules, start, conventions, returns, bounds,
            order[groups[g] : groups[g + 1]], out, moments,
        )  # fmt: skip
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
    moments: np.ndarray,
) -> np.ndarray:
    """``sweep_kernel.run_signals`` with the scenarios spread over the cores."""
    out = np.empty((entries.shape[0], len(OUT_FIELDS)))
    # the level rows of each scenario (one shared empty row without levels); an array,
    # because prange's unsigned index would turn ``s if levels else 0`` into a float
    rows = np.arange(entries.shape[0]) if levels else np.zeros(entries.shape[0], np.int64)
    returns, bounds = plain_inputs(ohlc[3], levels, rules, conventions, start, moments.shape[1])
    for s in prange(entries.shape[0]):
        signals_scenario(
            ohlc, entries, exits, levels, stop_lv, take_lv, limit_lv, fraction_lv, rules,
            start, conventions, returns, bounds, s, rows[s], out, moments,
        )  # fmt: skip
    return out
