"""The compiled simulation kernel behind every sweep: one long position, every fill rule.

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
the following bar. Sizing uses ``position_sizing``'s compiled formulas. The signals come
either as arrays (``entries``/``exits`` plus optional per-bar ``stop``/``take``/``limit``/
``fraction`` levels, NaN = none) or, ``macd=True``, from the MACD crossings computed inline
with ``ema_pandas``'s arithmetic (no per-scenario signal arrays at all).

Metrics (``OUT_FIELDS``) follow ``backtest.metrics``: total return, entries, closed trades,
wins, max drawdown, Sharpe (mean / std ddof 1 of per-bar returns x sqrt(bars per year)).
A flat bar without a trade keeps the previous value, a return of exactly 0 whose drawdown is
already counted, so it is skipped (bit-identical, and most of the speed).

The serial drivers live here; ``sweep_parallel`` holds the ``prange`` ones, imported only when
a sweep is big enough to pay for loading numba's threading layer. ``make prepare`` compiles
these same functions ahead of time (``sweep_aot_build``); ``sweep_aot`` runs that module's
serial drivers on threads, and this module is imported only when it is absent or stale.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from trading_core import position_sizing

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
def mark(
    marked: float,
    value: float,
    total: float,
    squares: float,
    downside: float,
    peak: float,
    worst: float,
    moments: np.ndarray,
    block: int,
) -> tuple[float, float, float, float, float, float]:
    """The one mark-to-market step: the bar's return into the running sums (and into the
    block's sums when ``moments`` has rows), the peak and the worst drawdown. Returns the
    new value, total, squares, downside squares, peak and worst drawdown."""
    change = marked / value - 1.0
    total += change
    squares += change * change
    if change < 0.0:
        downside += change * change
    if moments.shape[0] > 0:
        moments[block, 0] += change
        moments[block, 1] += change * change
    if marked > peak:
        peak = marked
    drawdown = marked / peak - 1.0
    if drawdown < worst:
        worst = drawdown
    return marked, total, squares, downside, peak, worst


@njit(cache=True)
def simulate(
    o: np.ndarray,
    h: np.ndarray,
    low: np.ndarray,
    c: np.ndarray,
    macd: bool,
    fast_ema: np.ndarray,
    slow_ema: np.ndarray,
    span: int,
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
    first = 0
    if macd:
        while first < size and np.isnan(fast_ema[first] - slow_ema[first]):
            first += 1
    alpha = 1.0 / (1.0 + (span - 1) / 2.0)
    beta = 1.0 - alpha
    total_wt = beta + alpha
    divide = total_wt != 1.0
    weighted = np.nan
    prev_line = np.nan
    prev_trigger = np.nan
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
    for i in range(start if not macd else 0, size):
        if macd:
            # the MACD line, its signal line (ema_pandas's arithmetic) and their crossings
            line = fast_ema[i] - slow_ema[i]
            trigger = np.nan
            if i == first:
                weighted = line
            elif i > first and weighted != line:
                weighted = beta * weighted + alpha * line
                if divide:
                    weighted = weighted / total_wt
            if i >= first and i - first + 1 >= span:
                trigger = weighted
            enter = prev_line < prev_trigger and line > trigger
            leave = prev_trigger < prev_line and trigger > line
            prev_line = line
            prev_trigger = trigger
            if i < start:
                continue
        else:
            enter = entries[i]
            leave = exits[i]
        # The common bars first: flat with nothing to do, or holding with nothing to check
        # (``pend_exit`` implies holding). Same state changes, far fewer instructions.
        if not holding and not pend_entry and not enter:
            if peak == -np.inf:
                peak = value
            continue
        if blocks > 0:
            block = (i - start) * blocks // count
        if holding and not protect and not leave and not pend_exit and i != last:
            value, total, squares, downside, peak, worst = mark(
                cash + quantity * c[i], value, total, squares, downside, peak, worst,
                moments, block,
            )  # fmt: skip
            continue
        traded = False
        # 1. at the open
        if pend_exit:
            if holding:
                notional = quantity * (o[i] * sell_mult)
                proceeds = notional - abs(notional) * fee
                cash += proceeds
                n_closed += 1
                if proceeds - spend > 0:
                    n_wins += 1
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
                    spend = _entry_notional(cash, cash, pend_fraction, 1.0)
                    quantity = _all_in_quantity(spend, price, rate)
                    # booked as the ledger and the backtester book it: value plus fee
                    spend = quantity * price + abs(quantity * price) * rate
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
                notional = quantity * exit_price
                proceeds = notional - abs(notional) * rate
                cash += proceeds
                n_closed += 1
                if proceeds - spend > 0:
                    n_wins += 1
                holding = False
                traded = True
        # 3. at the close
        if holding and leave:
            if next_open:
                pend_exit = i + 1 < size
            else:
                notional = quantity * (c[i] * sell_mult)
                proceeds = notional - abs(notional) * fee
                cash += proceeds
                n_closed += 1
                if proceeds - spend > 0:
                    n_wins += 1
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
                spend = _entry_notional(cash, cash, entry_fraction, 1.0)
                quantity = _all_in_quantity(spend, price, fee)
                spend = quantity * price + abs(quantity * price) * fee
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
            notional = quantity * (c[i] * sell_mult)
            proceeds = notional - abs(notional) * fee
            cash += proceeds
            n_closed += 1
            if proceeds - spend > 0:
                n_wins += 1
            holding = False
            traded = True
        if holding or traded:
            marked = cash + quantity * c[i] if holding else cash + 0.0
            value, total, squares, downside, peak, worst = mark(
                marked, value, total, squares, downside, peak, worst, moments, block
            )
        elif peak == -np.inf:
            peak = value
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
    per year; ``moments``: scenarios x blocks x 2 (zero blocks: none kept)."""
    out = np.empty((signal.shape[0], len(OUT_FIELDS)))
    for s in range(signal.shape[0]):
        macd_scenario(
            ohlc, emas, fast_row, slow_row, signal, rules, start, conventions, s, out, moments
        )
    return out


@njit(cache=True)
def macd_scenario(
    ohlc: np.ndarray,
    emas: np.ndarray,
    fast_row: np.ndarray,
    slow_row: np.ndarray,
    signal: np.ndarray,
    rules: np.ndarray,
    start: int,
    conventions: np.ndarray,
    s: int,
    out: np.ndarray,
    moments: np.ndarray,
) -> None:
    """Scenario ``s`` of ``run_macd`` (the serial and the parallel driver share it)."""
    flags = np.zeros(0, dtype=np.bool_)
    none = np.zeros(0)
    simulate(
        ohlc[0], ohlc[1], ohlc[2], ohlc[3], True, emas[fast_row[s]], emas[slow_row[s]],
        signal[s], flags, flags, False, none, none, none, none, start, conventions[0],
        conventions[1], conventions[2], conventions[3] != 0.0, int(conventions[4]),
        conventions[5] != 0.0, rules[s, 0], rules[s, 1], rules[s, 2], conventions[6],
        conventions[7], out[s], moments[s],
    )  # fmt: skip


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
    s: int,
    k: int,
    out: np.ndarray,
    moments: np.ndarray,
) -> None:
    """Scenario ``s`` of ``run_signals``, reading level row ``k`` (the serial and the
    parallel driver share it)."""
    none = np.zeros(0)
    simulate(
        ohlc[0], ohlc[1], ohlc[2], ohlc[3], False, none, none, 1, entries[s], exits[s],
        levels, stop_lv[k], take_lv[k], limit_lv[k], fraction_lv[k], start,
        conventions[0], conventions[1], conventions[2], conventions[3] != 0.0,
        int(conventions[4]), conventions[5] != 0.0, rules[s, 0], rules[s, 1], rules[s, 2],
        conventions[6], conventions[7], out[s], moments[s],
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
    for s in range(entries.shape[0]):
        signals_scenario(
            ohlc, entries, exits, levels, stop_lv, take_lv, limit_lv, fraction_lv, rules,
            start, conventions, s, s if levels else 0, out, moments,
        )  # fmt: skip
    return out
