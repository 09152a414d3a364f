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
the following bar. Sizing uses ``position_sizing``'s compiled formulas. The signals come as
arrays (``entries``/``exits`` plus optional per-bar ``stop``/``take``/``limit``/
``fraction`` levels, NaN = none). ``run_macd`` derives them for the MACD scenarios of one
(fast, slow) pair at a time: the MACD line once, every signal span's EMA (``ema_pandas``'s
arithmetic) and crossings in one pass over the bars (``macd_crossings``), then each
scenario's ``simulate``.

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
from trading_core.aot import use_source_keyed_cache

use_source_keyed_cache()  # numba's cache keyed by the kernels' sources (trading_core.aot)

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
) -> tuple[float, float, float, float, float, float, float]:
    """The one mark-to-market step: the bar's return into the running sums, the peak and
    the worst drawdown. Returns the return, then the new value, total, squares, downside
    squares, peak and worst drawdown."""
    change = marked / value - 1.0
    total += change
    squares += change * change
    if change < 0.0:
        downside += change * change
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
            change, value, total, squares, downside, peak, worst = mark(
                marked, value, total, squares, downside, peak, worst
            )
            if blocks > 0:
                add_moments(moments, block, change)
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
    leaves the value as it is, so every span divides (bit-identical, no branch); a total
    weight is never 0, so numpy's division rules (no zero check per bar) change nothing."""
    size = fast_ema.shape[0]
    m = spans.shape[0]
    first = 0
    while first < size and np.isnan(fast_ema[first] - slow_ema[first]):
        first += 1
    alpha = np.empty(m)
    beta = np.empty(m)
    total_wt = np.empty(m)
    for k in range(m):
        alpha[k] = 1.0 / (1.0 + (spans[k] - 1) / 2.0)
        beta[k] = 1.0 - alpha[k]
        total_wt[k] = beta[k] + alpha[k]
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
                w = (beta[k] * w + alpha[k] * line) / total_wt[k]
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
def macd_group(
    ohlc: np.ndarray,
    emas: np.ndarray,
    fast_row: np.ndarray,
    slow_row: np.ndarray,
    signal: np.ndarray,
    rules: np.ndarray,
    start: int,
    conventions: np.ndarray,
    members: np.ndarray,
    out: np.ndarray,
    moments: np.ndarray,
) -> None:
    """The scenarios ``members`` of ``run_macd``, which share one (fast, slow) pair: their
    crossings in one pass (``macd_crossings``), then each one's ``simulate`` (the serial
    and the parallel driver share it)."""
    size = ohlc.shape[1]
    first = members[0]
    spans = signal[members]
    enter = np.empty((members.shape[0], size), dtype=np.bool_)
    leave = np.empty((members.shape[0], size), dtype=np.bool_)
    macd_crossings(emas[fast_row[first]], emas[slow_row[first]], spans, enter, leave)
    none = np.zeros(0)
    for k in range(members.shape[0]):
        s = members[k]
        simulate(
            ohlc[0], ohlc[1], ohlc[2], ohlc[3], enter[k], leave[k], False, none, none, none,
            none, start, conventions[0], conventions[1], conventions[2],
            conventions[3] != 0.0, int(conventions[4]), conventions[5] != 0.0, rules[s, 0],
            rules[s, 1], rules[s, 2], conventions[6], conventions[7], out[s], moments[s],
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
    order, bounds = macd_pairs(fast_row, slow_row)
    for g in range(bounds.shape[0] - 1):
        macd_group(
            ohlc, emas, fast_row, slow_row, signal, rules, start, conventions,
            order[bounds[g] : bounds[g + 1]], out, moments,
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
    s: int,
    k: int,
    out: np.ndarray,
    moments: np.ndarray,
) -> None:
    """Scenario ``s`` of ``run_signals``, reading level row ``k`` (the serial and the
    parallel driver share it)."""
    simulate(
        ohlc[0], ohlc[1], ohlc[2], ohlc[3], entries[s], exits[s],
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
