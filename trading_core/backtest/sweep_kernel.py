"""The compiled sweep drivers: every scenario of a sweep through its convention's one path.

``run_signals`` takes per-scenario entry/exit signal arrays (plus optional per-bar
``stop``/``take``/``limit``/``fraction`` levels, NaN = none); ``run_macd`` derives them for
the MACD scenarios of one (fast, slow) pair at a time: the MACD line once, every signal
span's EMA (``ema_pandas``'s arithmetic) and crossings in one pass over the bars
(``macd_crossings``). Each scenario then runs ``scenario``: ``sweep_simulate_plain.
simulate_plain`` when it is plain (``is_plain``: close fills, no stop, target, trailing stop
or per-bar levels), else ``sweep_simulate.simulate`` (every fill rule; its docstring gives
the conventions and the metrics, ``OUT_FIELDS``).

The serial drivers live here; ``sweep_parallel`` holds the ``prange`` ones, imported only when
a sweep is big enough to pay for loading numba's threading layer. ``make prepare`` compiles
these same functions ahead of time (``sweep_aot_build``); ``sweep_aot`` runs that module's
serial drivers on threads, and this module is imported only when it is absent or stale.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from trading_core.aot import use_source_keyed_cache

use_source_keyed_cache()  # numba's cache keyed by the kernels' sources (trading_core.aot)

# OUT_FIELDS, simulate and simulate_plain are re-exported: callers and tests name them here
from trading_core.backtest.sweep_simulate import OUT_FIELDS as OUT_FIELDS  # noqa: E402
from trading_core.backtest.sweep_simulate import simulate as simulate  # noqa: E402
from trading_core.backtest.sweep_simulate_plain import (  # noqa: E402
    block_starts,
    close_returns,
)
from trading_core.backtest.sweep_simulate_plain import (  # noqa: E402
    simulate_plain as simulate_plain,
)


@njit(cache=True, error_model="numpy")
def macd_crossings(
    fast_ema: np.ndarray,
    slow_ema: np.ndarray,
    spans: np.ndarray,
    enter: np.ndarray,
    leave: np.ndarray,
) -> None:
    """The crossings of one MACD line (``fast_ema - slow_ema``) with its signal lines, one
    per span of ``spans``, into the rows of ``enter``/``leave`` (spans x bars): the signal
    line is ``ema_pandas``'s arithmetic (NaN until ``span`` values), a crossing compares the
    previous bar's line and signal with this bar's. All the spans advance together over the
    bars: their recursions are independent, so the CPU overlaps them (one span alone waits
    on its multiply-add-divide chain every bar). Dividing by a total weight of exactly 1.0
    leaves the value as it is, so the division is skipped when every span's total weight is
    1.0 - ``1 - alpha`` plus ``alpha`` rounds to 1.0 for every span tried (1..200,000):
    bit-identical, a fifth of the pass measured - else every span divides (no branch per
    span); a total weight is never 0, so numpy's division rules (no zero check per bar)
    change nothing."""
    size = fast_ema.shape[0]
    m = spans.shape[0]
    first = 0
    while first < size and np.isnan(fast_ema[first] - slow_ema[first]):
        first += 1
    alpha = np.empty(m)
    beta = np.empty(m)
    total_wt = np.empty(m)
    divide = False
    for k in range(m):
        alpha[k] = 1.0 / (1.0 + (spans[k] - 1) / 2.0)
        beta[k] = 1.0 - alpha[k]
        total_wt[k] = beta[k] + alpha[k]
        divide = divide or total_wt[k] != 1.0
    weighted = np.full(m, np.nan)
    prev_trigger = np.full(m, np.nan)
    prev_line = np.nan
    for i in range(size):
        line = fast_ema[i] - slow_ema[i]
        for k in range(m):
            w = weighted[k]
            if i == first:
                w = line
            elif i > first and w != line:
                if divide:  # loop-invariant: the compiler hoists it out of the loops
                    w = (beta[k] * w + alpha[k] * line) / total_wt[k]
                else:
                    w = beta[k] * w + alpha[k] * line
            weighted[k] = w
            trigger = w if i >= first and i - first + 1 >= spans[k] else np.nan
            enter[k, i] = prev_line < prev_trigger[k] and line > trigger
            leave[k, i] = prev_trigger[k] < prev_line and trigger > line
            prev_trigger[k] = trigger
        prev_line = line


@njit(cache=True)
def macd_pairs(fast_row: np.ndarray, slow_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scenarios grouped by their (fast, slow) pair: ``order`` lists them pair after
    pair (in the order of their rows within a pair), group ``g`` is
    ``order[bounds[g]:bounds[g + 1]]``; no scenarios, no groups."""
    n = fast_row.shape[0]
    width = 1
    for s in range(n):
        width = max(width, slow_row[s] + 1)
    order = np.argsort(fast_row * width + slow_row, kind="mergesort")
    if n == 0:
        return order, np.zeros(1, dtype=np.int64)
    starts = [0]
    for j in range(1, n):
        a = order[j - 1]
        b = order[j]
        if fast_row[a] != fast_row[b] or slow_row[a] != slow_row[b]:
            starts.append(j)
    starts.append(n)
    bounds = np.empty(len(starts), dtype=np.int64)
    for j in range(len(starts)):
        bounds[j] = starts[j]
    return order, bounds


@njit(cache=True)
def is_plain(levels: bool, rule: np.ndarray, conventions: np.ndarray) -> bool:
    """Whether a scenario is plain (``simulate_plain``): close fills, no per-bar levels, no
    stop-loss, take-profit or trailing stop (``rule``); its fee, slippage and
    ``close_at_end`` touch only its entry and exit bars."""
    return (
        not levels
        and conventions[3] == 0.0
        and np.isnan(rule[0])
        and np.isnan(rule[1])
        and np.isnan(rule[2])
    )


@njit(cache=True)
def plain_inputs(
    c: np.ndarray,
    levels: bool,
    rules: np.ndarray,
    conventions: np.ndarray,
    start: int,
    blocks: int,
) -> tuple[np.ndarray, np.ndarray]:
    """What the plain scenarios of one run share: ``close_returns(c)`` and the window's
    ``block_starts``; empty arrays when no scenario is plain."""
    for s in range(rules.shape[0]):
        if is_plain(levels, rules[s], conventions):
            return close_returns(c), block_starts(start, c.shape[0] - start, blocks)
    return np.zeros(0), np.zeros(1, dtype=np.int64)


@njit(cache=True)
def scenario(
    ohlc: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    levels: bool,
    stop_lv: np.ndarray,
    take_lv: np.ndarray,
    limit_lv: np.ndarray,
    fraction_lv: np.ndarray,
    rule: np.ndarray,
    start: int,
    conventions: np.ndarray,
    returns: np.ndarray,
    bounds: np.ndarray,
    out: np.ndarray,
    moments: np.ndarray,
) -> None:
    """One scenario through its convention's one path: ``simulate_plain`` when
    ``is_plain`` (``returns``/``bounds`` from ``plain_inputs``), else ``simulate``."""
    if is_plain(levels, rule, conventions):
        simulate_plain(
            ohlc[3], entries, exits, start, conventions[0], conventions[2],
            conventions[5] != 0.0, conventions[6], conventions[7], returns, bounds, out, moments,
        )  # fmt: skip
    else:
        simulate(
            ohlc[0], ohlc[1], ohlc[2], ohlc[3], entries, exits, levels, stop_lv, take_lv,
            limit_lv, fraction_lv, start, conventions[0], conventions[1], conventions[2],
            conventions[3] != 0.0, int(conventions[4]), conventions[5] != 0.0, rule[0],
            rule[1], rule[2], conventions[6], conventions[7], out, moments,
        )  # fmt: skip


@njit(cache=True)
def macd_group(
    ohlc: np.ndarray,
    emas: np.ndarray,
    fast_row: np.ndarray,
    slow_row: np.ndarray,
    signal: np.ndarray,
    rules: np.ndarray,
    start: int,
    conventions: np.ndarray,
    returns: np.ndarray,
    bounds: np.ndarray,
    members: np.ndarray,
    out: np.ndarray,
    moments: np.ndarray,
) -> None:
    """The scenarios ``members`` of ``run_macd``, which share one (fast, slow) pair: their
    crossings in one pass (``macd_crossings``), then each one's ``scenario`` (the serial
    and the parallel driver share it; ``returns``/``bounds`` from ``plain_inputs``)."""
    size = ohlc.shape[1]
    first = members[0]
    spans = signal[members]
    enter = np.empty((members.shape[0], size), dtype=np.bool_)
    leave = np.empty((members.shape[0], size), dtype=np.bool_)
    macd_crossings(emas[fast_row[first]], emas[slow_row[first]], spans, enter, leave)
    none = np.zeros(0)
    for k in range(members.shape[0]):
        s = members[k]
        scenario(
            ohlc, enter[k], leave[k], False, none, none, none, none, rules[s], start,
            conventions, returns, bounds, out[s], moments[s],
        )  # fmt: skip


@njit(cache=True)
def run_macd(
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
    """MACD scenarios (rows of ``emas`` for fast and slow, signal span); ``rules`` holds each
    scenario's stop-loss, take-profit and trailing fractions (NaN = none); ``conventions``:
    fee, maker fee, slippage bps, next_open, stops delay, close_at_end, initial cash, bars
    per year; ``moments``: scenarios x blocks x 2 (zero blocks: none kept). Scenarios run
    pair by pair (``macd_pairs``); each one's result does not depend on its companions."""
    out = np.empty((signal.shape[0], len(OUT_FIELDS)))
    returns, bounds = plain_inputs(ohlc[3], False, rules, conventions, start, moments.shape[1])
    order, groups = macd_pairs(fast_row, slow_row)
    for g in range(groups.shape[0] - 1):
        macd_group(
            ohlc, emas, fast_row, slow_row, signal, rules, start, conventions, returns, bounds,
            order[groups[g] : groups[g + 1]], out, moments,
        )  # fmt: skip
    return out


@njit(cache=True)
def signals_scenario(
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
    returns: np.ndarray,
    bounds: np.ndarray,
    s: int,
    k: int,
    out: np.ndarray,
    moments: np.ndarray,
) -> None:
    """Scenario ``s`` of ``run_signals``, reading level row ``k`` (the serial and the
    parallel driver share it; ``returns``/``bounds`` from ``plain_inputs``)."""
    scenario(
        ohlc, entries[s], exits[s], levels, stop_lv[k], take_lv[k], limit_lv[k],
        fraction_lv[k], rules[s], start, conventions, returns, bounds, out[s], moments[s],
    )  # fmt: skip


@njit(cache=True)
def run_signals(
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
    """Scenarios given as rows of ``entries``/``exits`` (and, ``levels=True``, of the four
    level matrices); ``rules`` and ``moments`` as in ``run_macd``."""
    out = np.empty((entries.shape[0], len(OUT_FIELDS)))
    returns, bounds = plain_inputs(ohlc[3], levels, rules, conventions, start, moments.shape[1])
    for s in range(entries.shape[0]):
        signals_scenario(
            ohlc, entries, exits, levels, stop_lv, take_lv, limit_lv, fraction_lv, rules,
            start, conventions, returns, bounds, s, s if levels else 0, out, moments,
        )  # fmt: skip
    return out
