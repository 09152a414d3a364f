"""The compiled simulation of one sweep scenario, every fill rule: one long position.

``simulate`` is ``engine.run_backtest`` for one scenario, in one pass over the bars, with the
same arithmetic in the same order (see the engine's docstring for the order of events):

1. at the open: a ``next_open`` exit decided on the previous bar, then a pending entry - a
   market order at the (slipped) open with the taker fee, or a buy limit that fills at its
   price with the maker fee when the bar trades through it (``low < limit``);
2. intrabar, from ``checks_from`` on: the stop (the higher of the stop-loss and the trailing
   level, the highest checked high times ``1 - trailing``) before the take-profit; a gap
   fills at the open; a stop pays slippage and the taker fee, a take-profit the maker fee;
3. at the close: ``exit`` closes (now under ``close`` fills, at the next open otherwise);
   else, when flat, ``entry`` opens (now, or pending for the next bar).

After a ``next_open`` market entry ``stops_delay`` 0 checks stops on the fill bar itself
(``stops_from="fill"``), 1 from the following bar; close and limit fills always check from
the following bar. Sizing uses ``position_sizing``'s compiled formulas. The signals come as
arrays (``entries``/``exits`` plus optional per-bar ``stop``/``take``/``limit``/
``fraction`` levels, NaN = none).

Metrics (``OUT_FIELDS``) follow ``backtest.metrics``: total return, entries, closed trades,
wins, max drawdown, Sharpe (mean / std ddof 1 of per-bar returns x sqrt(bars per year)).
A flat bar without a trade keeps the previous value, a return of exactly 0 whose drawdown is
already counted, so it is skipped (bit-identical, and most of the speed). The booking
(``buy``, ``sell``), the returns (``add_return``) and the metrics (``finish``) are shared
with the plain path (``sweep_simulate_plain``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from trading_core.aot import use_source_keyed_cache

use_source_keyed_cache()  # numba's cache keyed by the kernels' sources (trading_core.aot)

from trading_core import position_sizing  # noqa: E402

_entry_notional = njit(cache=True)(position_sizing.notional_arithmetic)
_all_in_quantity = njit(cache=True)(position_sizing.quantity_arithmetic)

OUT_FIELDS: tuple[str, ...] = (
    "total_return",
    "entries",
    "closed_trades",
    "wins",
    "max_drawdown",
    "sharpe",
    "sortino",
)


@njit(cache=True)
def add_return(
    marked: float, value: float, total: float, squares: float, downside: float
) -> tuple[float, float, float, float]:
    """A bar marked at ``marked`` after ``value``: its return, then the running sum of the
    returns, of their squares and of the squares of the negative ones (Sortino)."""
    change = marked / value - 1.0
    total += change
    squares += change * change
    if change < 0.0:
        downside += change * change
    return change, total, squares, downside


@njit(cache=True)
def mark(
    marked: float,
    value: float,
    total: float,
    squares: float,
    downside: float,
    peak: float,
    worst: float,
) -> tuple[float, float, float, float, float, float, float]:
    """The one mark-to-market step: the bar's return into the running sums, the peak and
    the worst drawdown. Returns the return, then the new value, total, squares, downside
    squares, peak and worst drawdown."""
    change, total, squares, downside = add_return(marked, value, total, squares, downside)
    if marked > peak:
        peak = marked
    drawdown = marked / peak - 1.0
    if drawdown < worst:
        worst = drawdown
    return change, marked, total, squares, downside, peak, worst


@njit(cache=True)
def add_moments(moments: np.ndarray, block: int, change: float) -> None:
    """A bar's return into its block's sums (CSCV)."""
    moments[block, 0] += change
    moments[block, 1] += change * change


@njit(cache=True)
def buy(cash: float, price: float, rate: float, fraction: float) -> tuple[float, float]:
    """An entry with ``fraction`` of ``cash`` at ``price`` paying ``rate``: the quantity and
    the spend, booked as the ledger and the backtester book it (value plus fee)."""
    notional = _entry_notional(cash, cash, fraction, 1.0)
    quantity = _all_in_quantity(notional, price, rate)
    return quantity, quantity * price + abs(quantity * price) * rate


@njit(cache=True)
def sell(quantity: float, price: float, rate: float, spend: float) -> tuple[float, int]:
    """An exit of ``quantity`` at ``price`` paying ``rate``: the proceeds, and 1 when the
    trade won (proceeds above the entry's ``spend``), else 0."""
    notional = quantity * price
    proceeds = notional - abs(notional) * rate
    return proceeds, 1 if proceeds - spend > 0 else 0


@njit(cache=True)
def finish(
    out: np.ndarray,
    value: float,
    initial_cash: float,
    n_entries: int,
    n_closed: int,
    n_wins: int,
    worst: float,
    total: float,
    squares: float,
    downside: float,
    count: int,
    bars_per_year: float,
) -> None:
    """``OUT_FIELDS`` from a scenario's final value, counts, worst drawdown and the sums of
    its ``count`` per-bar returns (Sharpe: std with ddof 1; Sortino: downside deviation)."""
    sharpe = np.nan
    sortino = np.nan
    if count > 1:
        mean = total / count
        variance = (squares - total * mean) / (count - 1)
        if variance > 0:
            sharpe = mean / np.sqrt(variance) * np.sqrt(bars_per_year)
    if count > 0 and downside > 0:
        sortino = total / count / np.sqrt(downside / count) * np.sqrt(bars_per_year)
    out[0] = value / initial_cash - 1.0
    out[1] = n_entries
    out[2] = n_closed
    out[3] = n_wins
    out[4] = worst
    out[5] = sharpe
    out[6] = sortino


@njit(cache=True)
def simulate(
    o: np.ndarray,
    h: np.ndarray,
    low: np.ndarray,
    c: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    levels: bool,
    stop_lv: np.ndarray,
    take_lv: np.ndarray,
    limit_lv: np.ndarray,
    fraction_lv: np.ndarray,
    start: int,
    fee: float,
    maker: float,
    slippage_bps: float,
    next_open: bool,
    stops_delay: int,
    close_at_end: bool,
    stop_pct: float,
    take_pct: float,
    trail_pct: float,
    initial_cash: float,
    bars_per_year: float,
    out: np.ndarray,
    moments: np.ndarray,
) -> None:
    """One scenario; exit-rule fractions ``stop_pct``/``take_pct``/``trail_pct`` NaN = none.
    ``moments`` (blocks x 2, or no rows): the sums of the per-bar returns and of their
    squares in each of ``blocks`` equal slices of the window (CSCV, ``research.overfitting``);
    bar ``i`` falls in block ``(i - start) * blocks // (bars - start)``."""
    size = c.shape[0]
    factor = slippage_bps / 10_000.0
    buy_mult = 1.0 + factor
    sell_mult = 1.0 - factor
    has_stop = not np.isnan(stop_pct)
    has_take = not np.isnan(take_pct)
    has_trail = not np.isnan(trail_pct)
    protect = has_stop or has_take or has_trail or levels
    cash = initial_cash
    quantity = 0.0
    spend = 0.0
    holding = False
    stop = np.nan
    take = np.nan
    highest = 0.0
    checks_from = 0
    pend_exit = False
    pend_entry = False
    pend_limit = np.nan
    pend_stop = np.nan
    pend_take = np.nan
    pend_fraction = 1.0
    n_entries = 0
    n_closed = 0
    n_wins = 0
    value = initial_cash
    peak = -np.inf
    worst = 0.0
    total = 0.0
    squares = 0.0
    downside = 0.0
    last = size - 1
    count = size - start
    blocks = moments.shape[0]
    block = 0
    i = start - 1
    while i + 1 < size:
        i += 1
        # The common runs of bars first, each in a tight loop: flat with nothing pending up
        # to the next entry signal (a skipped bar keeps the value), holding with nothing to
        # check up to the next exit signal or the last bar (``pend_exit`` implies holding).
        # Same state changes in the same order, far fewer instructions per bar.
        if not holding and not pend_entry:
            j = i
            while i < size and not entries[i]:
                i += 1
            if i > j and peak == -np.inf:
                peak = value
            if i == size:
                break
        elif holding and not protect and not pend_exit and blocks == 0:
            # (a loop of its own: a possible store into ``moments`` costs a third per bar)
            while i < last and not exits[i]:
                _, value, total, squares, downside, peak, worst = mark(
                    cash + quantity * c[i], value, total, squares, downside, peak, worst
                )
                i += 1
        elif holding and not protect and not pend_exit:
            while i < last and not exits[i]:
                change, value, total, squares, downside, peak, worst = mark(
                    cash + quantity * c[i], value, total, squares, downside, peak, worst
                )
                add_moments(moments, (i - start) * blocks // count, change)
                i += 1
        enter = entries[i]
        leave = exits[i]
        if blocks > 0:
            block = (i - start) * blocks // count
        traded = False
        # 1. at the open
        if pend_exit:
            if holding:
                proceeds, won = sell(quantity, o[i] * sell_mult, fee, spend)
                cash += proceeds
                n_closed += 1
                n_wins += won
                holding = False
                traded = True
            pend_exit = False
        if pend_entry:
            if not holding:
                filled = False
                price = 0.0
                rate = fee
                if np.isnan(pend_limit):
                    price = o[i] * buy_mult
                    rate = fee
                    checks_from = i + stops_delay
                    filled = True
                elif low[i] < pend_limit:
                    price = pend_limit
                    rate = maker
                    checks_from = i + 1
                    filled = True
                if filled:
                    quantity, spend = buy(cash, price, rate, pend_fraction)
                    cash -= spend
                    holding = True
                    n_entries += 1
                    traded = True
                    stop = pend_stop
                    if np.isnan(stop) and has_stop:
                        stop = price * (1.0 - stop_pct)
                    take = pend_take
                    if np.isnan(take) and has_take:
                        take = price * (1.0 + take_pct)
                    highest = price
            pend_entry = False
        # 2. intrabar: stop first, then target; a gap fills at the open
        if protect and holding and i >= checks_from:
            level = stop
            if has_trail:
                trail = highest * (1.0 - trail_pct)
                if np.isnan(level) or trail > level:
                    level = trail
            exit_price = np.nan
            rate = fee
            if not np.isnan(level) and low[i] <= level:
                exit_price = min(o[i], level) * sell_mult
            elif not np.isnan(take) and h[i] >= take:
                exit_price = max(o[i], take)
                rate = maker
            if np.isnan(exit_price):
                highest = max(highest, h[i])
            else:
                proceeds, won = sell(quantity, exit_price, rate, spend)
                cash += proceeds
                n_closed += 1
                n_wins += won
                holding = False
                traded = True
        # 3. at the close
        if holding and leave:
            if next_open:
                pend_exit = i + 1 < size
            else:
                proceeds, won = sell(quantity, c[i] * sell_mult, fee, spend)
                cash += proceeds
                n_closed += 1
                n_wins += won
                holding = False
                traded = True
        elif not holding and enter:
            entry_stop = np.nan
            entry_take = np.nan
            entry_limit = np.nan
            entry_fraction = 1.0
            if levels:
                entry_stop = stop_lv[i]
                entry_take = take_lv[i]
                entry_limit = limit_lv[i]
                entry_fraction = fraction_lv[i]
            if not np.isnan(entry_limit) or next_open:
                if i + 1 < size:
                    pend_entry = True
                    pend_limit = entry_limit
                    pend_stop = entry_stop
                    pend_take = entry_take
                    pend_fraction = entry_fraction
            else:
                price = c[i] * buy_mult
                quantity, spend = buy(cash, price, fee, entry_fraction)
                cash -= spend
                holding = True
                n_entries += 1
                traded = True
                checks_from = i + 1
                stop = entry_stop
                if np.isnan(stop) and has_stop:
                    stop = price * (1.0 - stop_pct)
                take = entry_take
                if np.isnan(take) and has_take:
                    take = price * (1.0 + take_pct)
                highest = price
        if close_at_end and holding and i == last:
            proceeds, won = sell(quantity, c[i] * sell_mult, fee, spend)
            cash += proceeds
            n_closed += 1
            n_wins += won
            holding = False
            traded = True
        if holding or traded:
            marked = cash + quantity * c[i] if holding else cash + 0.0
            change, value, total, squares, downside, peak, worst = mark(
                marked, value, total, squares, downside, peak, worst
            )
            if blocks > 0:
                add_moments(moments, block, change)
        elif peak == -np.inf:
            peak = value
    finish(
        out, value, initial_cash, n_entries, n_closed, n_wins, worst, total, squares,
        downside, count, bars_per_year,
    )  # fmt: skip
