"""The plain sweep scenario, compiled: close fills, no stop, target, trailing stop or per-bar
levels (``sweep_kernel.is_plain``).

``simulate_plain`` is the plain convention's one path, built from the same booking
(``buy``, ``sell``), returns (``add_return``) and metrics (``finish``) as
``sweep_simulate.simulate``: a bar held between entry and exit takes the close-to-close
return shared by every scenario (``close_returns``, no division per bar) and its drawdown by
compares (``drawdown_step``); block sums are added when a block ends (``block_starts``).
Its total return, counts and drawdown are bit-identical to ``simulate``'s, its Sharpe,
Sortino and block sums equal them to ~1e-11 (the cash beside the all-in position is
rounding residue).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from trading_core.aot import use_source_keyed_cache

use_source_keyed_cache()  # numba's cache keyed by the kernels' sources (trading_core.aot)

from trading_core.backtest.sweep_simulate import (  # noqa: E402
    add_moments,
    add_return,
    buy,
    finish,
    sell,
)


@njit(cache=True)
def close_returns(c: np.ndarray) -> np.ndarray:
    """The close-to-close returns ``c[i] / c[i - 1] - 1`` (0 at bar 0): a plain holding
    bar's return, the same for every scenario (the cash beside an all-in position is
    rounding residue, ~1e-16 of its value)."""
    returns = np.zeros(c.shape[0])
    for i in range(1, c.shape[0]):
        returns[i] = c[i] / c[i - 1] - 1.0
    return returns


@njit(cache=True)
def block_starts(start: int, count: int, blocks: int) -> np.ndarray:
    """The first bar of each of ``blocks`` blocks of the ``count`` bars from ``start`` on,
    cut as ``simulate`` cuts them (bar ``i`` in block ``(i - start) * blocks // count``),
    then ``start + count``."""
    bounds = np.full(blocks + 1, start + count, dtype=np.int64)
    k = -1
    for t in range(count if blocks > 0 else 0):
        block = t * blocks // count
        while k < block:
            k += 1
            bounds[k] = start + t
    return bounds


@njit(cache=True)
def drawdown_step(
    marked: float, peak: float, low: float, worst: float
) -> tuple[float, float, float]:
    """``mark``'s drawdown by compares: ``low`` is the lowest value since ``peak``; the
    worst drawdown of a peak's stretch (``low / peak - 1``) is taken when a new peak ends
    it, the same number ``mark`` finds (a division is monotone), one division per peak
    instead of one per bar. ``drawdown_end`` takes the open stretch's."""
    if marked > peak:
        if low < peak:
            worst = min(worst, low / peak - 1.0)
        return marked, marked, worst
    return peak, min(low, marked), worst


@njit(cache=True)
def drawdown_end(peak: float, low: float, worst: float) -> float:
    """The worst drawdown once the open peak's stretch is taken too (``drawdown_step``)."""
    if low < peak:
        return min(worst, low / peak - 1.0)
    return worst


@njit(cache=True)
def simulate_plain(
    c: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    start: int,
    fee: float,
    slippage_bps: float,
    close_at_end: bool,
    initial_cash: float,
    bars_per_year: float,
    returns: np.ndarray,
    bounds: np.ndarray,
    out: np.ndarray,
    moments: np.ndarray,
) -> None:
    """``simulate`` for a plain scenario - close fills, all-in entries, no stop, target,
    trailing stop or per-bar levels - trade by trade: flat up to the next entry, enter at
    its close, hold up to the next exit (or the last bar), exit at its close. The entry and
    exit bars are marked as ``simulate`` marks them; a bar held between them takes its
    return from ``returns`` (``close_returns(c)``: no division per bar) and its drawdown
    from ``drawdown_step`` (compares only), its block from ``bounds`` (``block_starts``:
    no division either); its sums are kept per block and added when the block ends."""
    size = c.shape[0]
    last = size - 1
    count = size - start
    blocks = moments.shape[0]
    factor = slippage_bps / 10_000.0
    buy_mult = 1.0 + factor
    sell_mult = 1.0 - factor
    cash = initial_cash
    value = initial_cash
    peak = -np.inf
    low = -np.inf
    worst = 0.0
    total = 0.0
    squares = 0.0
    downside = 0.0
    n_entries = 0
    n_closed = 0
    n_wins = 0
    i = start
    while i < size:
        j = i
        while i < size and not entries[i]:
            i += 1
        if i > j and peak == -np.inf:
            peak = value
            low = value
        if i == size:
            break
        # the entry at the close of bar ``i`` (on the last bar, ``close_at_end`` sells it)
        quantity, spend = buy(cash, c[i] * buy_mult, fee, 1.0)
        cash -= spend
        n_entries += 1
        if i < last or not close_at_end:
            marked = cash + quantity * c[i]
        else:
            proceeds, won = sell(quantity, c[i] * sell_mult, fee, spend)
            cash += proceeds
            n_closed += 1
            n_wins += won
            marked = cash + 0.0
        change, total, squares, downside = add_return(marked, value, total, squares, downside)
        if blocks > 0:
            add_moments(moments, (i - start) * blocks // count, change)
        peak, low, worst = drawdown_step(marked, peak, low, worst)
        if i == last:
            value = marked
            break
        # held up to the next exit signal or the last bar, block by block
        i += 1
        k = (i - start) * blocks // count if blocks > 0 else 0  # (no division per trade)
        while True:
            end = last if blocks == 0 else min(last, bounds[k + 1])
            held = 0.0
            held_squares = 0.0
            held_downside = 0.0
            while i < end and not exits[i]:
                peak, low, worst = drawdown_step(cash + quantity * c[i], peak, low, worst)
                change = returns[i]
                held += change
                held_squares += change * change
                negative = min(change, 0.0)  # no branch on the sign
                held_downside += negative * negative
                i += 1
            total += held
            squares += held_squares
            downside += held_downside
            if blocks > 0:
                moments[k, 0] += held
                moments[k, 1] += held_squares
            if i < end or i == last:
                break
            k += 1
        value = cash + quantity * c[i - 1]
        # bar ``i``: an exit signal, or the last bar (sold by ``close_at_end``, else held)
        if exits[i] or close_at_end:
            proceeds, won = sell(quantity, c[i] * sell_mult, fee, spend)
            cash += proceeds
            n_closed += 1
            n_wins += won
            marked = cash + 0.0
        else:
            marked = cash + quantity * c[i]
        change, total, squares, downside = add_return(marked, value, total, squares, downside)
        if blocks > 0:
            add_moments(moments, (i - start) * blocks // count, change)
        peak, low, worst = drawdown_step(marked, peak, low, worst)
        value = marked
        i += 1
    finish(
        out, value, initial_cash, n_entries, n_closed, n_wins, drawdown_end(peak, low, worst),
        total, squares, downside, count, bars_per_year,
    )  # fmt: skip
