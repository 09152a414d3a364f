"""The compiled swing sweep: each scenario's signals from shared indicator rows, then
``sweep_kernel.run_signals`` on them - no per-row NumPy, no Python per scenario.

``SwingStrategy.compute``'s rules, bar by bar, on indicators computed once per sweep
(``sweep_swing``: an RSI row per period, a lower and a middle Bollinger row per period and
width, an "entry allowed" row per distinct regime/alignment filter with the held-spike bars
already off):

- entry: ``rsi < oversold`` and ``close < lower`` and allowed;
- exit: ``close >= middle`` or ``rsi > overbought``, and the bar may decide.

A NaN indicator (warm-up) compares False, as in NumPy. An entry row depends on (RSI row,
band row, allowed row, oversold), an exit row on (RSI row, band row, overbought); the caller
numbers the distinct ones (``entry_of``/``exit_of``) and orders the scenarios so that those
sharing one come together. Rows are kept in a small direct-mapped cache (``cache_rows``
slots, slot = id modulo ``cache_rows``): a row is computed when its slot holds another id,
so the order decides only the speed, never a result. Protective levels of ``stop_loss_pct``
/ ``take_profit_pct`` are the signal bar's close times ``1 - pct`` / ``1 + pct``, the
strategy's arithmetic. Consecutive scenarios' rows are copied into a batch and simulated by
``run_signals`` together - the very simulation every other sweep runs, whose results do not
depend on their companions - so the batching decides only the speed too.

``nogil``: the JIT's functions release the GIL like the ahead-of-time module's
(``sweep_aot_build`` exports these same functions), so ``sweep_swing`` runs chunks of
scenarios on threads either way.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from trading_core.aot import use_source_keyed_cache

use_source_keyed_cache()  # numba's cache keyed by the kernels' sources (trading_core.aot)

from trading_core.backtest.sweep_kernel import OUT_FIELDS, run_signals  # noqa: E402


@njit(cache=True, nogil=True)
def entry_row(
    close: np.ndarray,
    strength: np.ndarray,
    lower: np.ndarray,
    allowed: np.ndarray,
    oversold: float,
    out: np.ndarray,
) -> None:
    """One entry row into ``out`` (bitwise ``&``: no branch per bar)."""
    for i in range(close.shape[0]):
        out[i] = (strength[i] < oversold) & (close[i] < lower[i]) & allowed[i]


@njit(cache=True, nogil=True)
def exit_row(
    close: np.ndarray,
    strength: np.ndarray,
    middle: np.ndarray,
    decide: np.ndarray,
    overbought: float,
    out: np.ndarray,
) -> None:
    """One exit row into ``out``."""
    for i in range(close.shape[0]):
        out[i] = ((close[i] >= middle[i]) | (strength[i] > overbought)) & decide[i]


@njit(cache=True, nogil=True)
def copy_row(source: np.ndarray, target: np.ndarray) -> None:
    """``target[:] = source`` as a plain loop (a memcpy; numba's slice assignment checks
    for overlap element by element, ~20x slower)."""
    for i in range(source.shape[0]):
        target[i] = source[i]


@njit(cache=True, nogil=True)
def flush(
    ohlc: np.ndarray,
    enter: np.ndarray,
    leave: np.ndarray,
    levels: bool,
    stop_lv: np.ndarray,
    take_lv: np.ndarray,
    limit_lv: np.ndarray,
    fraction_lv: np.ndarray,
    rules: np.ndarray,
    start: int,
    conventions: np.ndarray,
    moments: np.ndarray,
    first: int,
    count: int,
    out: np.ndarray,
) -> None:
    """Scenarios ``first .. first + count`` (the batch's first ``count`` rows) through
    ``run_signals`` into ``out``."""
    stop = first + count
    if levels:
        raw = run_signals(
            ohlc, enter[:count], leave[:count], True, stop_lv[:count], take_lv[:count],
            limit_lv[:count], fraction_lv[:count], rules[first:stop], start, conventions,
            moments[first:stop],
        )  # fmt: skip
    else:
        none = np.zeros((1, 0))
        raw = run_signals(
            ohlc, enter[:count], leave[:count], False, none, none, none, none,
            rules[first:stop], start, conventions, moments[first:stop],
        )  # fmt: skip
    out[first:stop] = raw


@njit(cache=True, nogil=True)
def run_swing(
    ohlc: np.ndarray,
    rsis: np.ndarray,
    lowers: np.ndarray,
    middles: np.ndarray,
    allowed: np.ndarray,
    decide: np.ndarray,
    entry_keys: np.ndarray,
    entry_levels: np.ndarray,
    exit_keys: np.ndarray,
    exit_levels: np.ndarray,
    entry_of: np.ndarray,
    exit_of: np.ndarray,
    stop_pct: np.ndarray,
    take_pct: np.ndarray,
    rules: np.ndarray,
    start: int,
    conventions: np.ndarray,
    moments: np.ndarray,
    cache_rows: int,
    batch_rows: int,
) -> np.ndarray:
    """Swing scenarios: ``entry_keys`` (ids x 3: RSI, band and allowed row) with
    ``entry_levels`` (oversold), ``exit_keys`` (ids x 2: RSI and band row) with
    ``exit_levels`` (overbought); per scenario its entry and exit id, its stop-loss and
    take-profit fractions (NaN = none), exit rules (``rules``) and block sums (``moments``),
    as ``run_signals`` takes them. ``decide``: the bars that may decide (held spikes off).
    Consecutive scenarios go to ``run_signals`` together, up to ``batch_rows`` (an eighth
    of that with levels: four float rows each). Returns ``OUT_FIELDS`` per scenario."""
    scenarios = entry_of.shape[0]
    size = ohlc.shape[1]
    close = ohlc[3]
    out = np.empty((scenarios, len(OUT_FIELDS)))
    rows = max(1, cache_rows)
    entry_cache = np.empty((rows, size), dtype=np.bool_)
    exit_cache = np.empty((rows, size), dtype=np.bool_)
    entry_id = np.full(rows, -1, dtype=np.int64)
    exit_id = np.full(rows, -1, dtype=np.int64)
    batch = max(1, batch_rows)
    level_batch = max(1, batch // 8)
    any_levels = False
    for s in range(scenarios):
        if not (np.isnan(stop_pct[s]) and np.isnan(take_pct[s])):
            any_levels = True
    lv_rows = level_batch if any_levels else 0
    enter = np.empty((batch, size), dtype=np.bool_)
    leave = np.empty((batch, size), dtype=np.bool_)
    stop_lv = np.empty((lv_rows, size))
    take_lv = np.empty((lv_rows, size))
    limit_lv = np.full((lv_rows, size), np.nan)
    fraction_lv = np.ones((lv_rows, size))
    first = 0
    count = 0
    kind = False
    for s in range(scenarios):
        levels = not (np.isnan(stop_pct[s]) and np.isnan(take_pct[s]))
        if count > 0 and (levels != kind or count == (level_batch if kind else batch)):
            flush(
                ohlc, enter, leave, kind, stop_lv, take_lv, limit_lv, fraction_lv, rules,
                start, conventions, moments, first, count, out,
            )  # fmt: skip
            first = s
            count = 0
        kind = levels
        e = entry_of[s]
        a = e % rows
        if entry_id[a] != e:
            k = entry_keys[e]
            entry_row(
                close, rsis[k[0]], lowers[k[1]], allowed[k[2]], entry_levels[e], entry_cache[a]
            )
            entry_id[a] = e
        x = exit_of[s]
        b = x % rows
        if exit_id[b] != x:
            k = exit_keys[x]
            exit_row(close, rsis[k[0]], middles[k[1]], decide, exit_levels[x], exit_cache[b])
            exit_id[b] = x
        copy_row(entry_cache[a], enter[count])
        copy_row(exit_cache[b], leave[count])
        if levels:
            below = 1.0 - stop_pct[s]
            above = 1.0 + take_pct[s]
            for i in range(size):
                stop_lv[count, i] = close[i] * below
                take_lv[count, i] = close[i] * above
        count += 1
    if count > 0:
        flush(
            ohlc, enter, leave, kind, stop_lv, take_lv, limit_lv, fraction_lv, rules, start,
            conventions, moments, first, count, out,
        )  # fmt: skip
    return out
