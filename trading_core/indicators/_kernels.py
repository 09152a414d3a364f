"""Compiled loops behind the indicators (numba, ``cache=True``, or ahead of time).

Every kernel is causal: ``out[i]`` reads ``x[: i + 1]`` only, so recomputing on a series
truncated at bar ``i`` yields the same bits at ``i``. Window kernels sum each window afresh
(O(n * window)) instead of keeping a running sum: the result then does not depend on where
the series starts, which makes SMA-type columns bit-identical whatever the history length.

Each kernel is a ``trading_core.aot.Kernel``: the ahead-of-time compiled function of the same
source when ``make prepare`` built it and the arguments fit its signature (``kinds``: ``a`` a
1-D float64 array, ``i`` an integer, ``-`` never compiled ahead: always the JIT), else
``numba.njit(cache=True)`` of the function, compiled for every kernel at the first need
(numba is imported only then).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from trading_core.aot import Kernel, jit_namespace

jit_all = jit_namespace(globals())


def kernel(kinds: str) -> Callable[[Callable[..., Any]], Kernel]:
    return lambda func: Kernel(func, kinds, jit_all)


@kernel("a")
def first_valid(x: np.ndarray) -> int:
    """Index of the first non-NaN value, ``len(x)`` if there is none."""
    for i in range(x.shape[0]):
        if not np.isnan(x[i]):
            return i
    return x.shape[0]


@kernel("ai")
def window_mean(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    for i in range(n - 1, x.shape[0]):
        total = 0.0
        for j in range(i - n + 1, i + 1):
            total += x[j]
        out[i] = total / n
    return out


@kernel("ai")
def window_std(x: np.ndarray, n: int) -> np.ndarray:
    """Population standard deviation (ddof=0), two-pass per window for accuracy."""
    out = np.full(x.shape[0], np.nan)
    for i in range(n - 1, x.shape[0]):
        total = 0.0
        for j in range(i - n + 1, i + 1):
            total += x[j]
        mean = total / n
        squares = 0.0
        for j in range(i - n + 1, i + 1):
            squares += (x[j] - mean) ** 2
        out[i] = np.sqrt(squares / n)
    return out


@kernel("ai")
def window_max(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    for i in range(n - 1, x.shape[0]):
        best = x[i - n + 1]
        for j in range(i - n + 2, i + 1):
            if x[j] > best:
                best = x[j]
        out[i] = best
    return out


def window_min(x: np.ndarray, n: int) -> np.ndarray:
    """Rolling minimum: the mirror image of ``window_max`` (exact: negation is lossless)."""
    return -window_max(-x, n)


@kernel("ai")
def window_mean_abs_dev(x: np.ndarray, n: int) -> np.ndarray:
    """Mean absolute deviation from the window's own mean (the CCI denominator)."""
    out = np.full(x.shape[0], np.nan)
    for i in range(n - 1, x.shape[0]):
        total = 0.0
        for j in range(i - n + 1, i + 1):
            total += x[j]
        mean = total / n
        dev = 0.0
        for j in range(i - n + 1, i + 1):
            dev += abs(x[j] - mean)
        out[i] = dev / n
    return out


@kernel("ai")
def ema_talib(x: np.ndarray, n: int) -> np.ndarray:
    """TA-Lib EMA: seeded with the SMA of the first ``n`` valid values, k = 2 / (n + 1).

    Leading NaNs are skipped (the series starts at its first valid value), so the same kernel
    smooths a MACD line into its signal line.
    """
    out = np.full(x.shape[0], np.nan)
    start = first_valid(x)
    seed_at = start + n - 1
    if seed_at >= x.shape[0]:
        return out
    k = 2.0 / (n + 1)
    total = 0.0
    for j in range(start, seed_at + 1):
        total += x[j]
    prev = total / n
    out[seed_at] = prev
    for i in range(seed_at + 1, x.shape[0]):
        prev = ((x[i] - prev) * k) + prev
        out[i] = prev
    return out


@kernel("ai")
def ema_pandas(x: np.ndarray, n: int) -> np.ndarray:
    """``pd.Series.ewm(span=n, adjust=False, min_periods=n).mean()`` on a NaN-free tail.

    Seeded with the first valid value; the update mirrors pandas' own arithmetic
    (``(old_wt * w + new_wt * x) / (old_wt + new_wt)`` and no update when ``x == w``) so the
    result matches pandas to the last bit in practice, not only to rounding. The sweep kernel
    calls this same function, which is what makes its crossings identical to the backtester's.
    """
    out = np.full(x.shape[0], np.nan)
    start = first_valid(x)
    if start >= x.shape[0]:
        return out
    com = (n - 1) / 2.0
    alpha = 1.0 / (1.0 + com)
    beta = 1.0 - alpha
    total_wt = beta + alpha
    weighted = x[start]
    if n <= 1:
        out[start] = weighted
    for i in range(start + 1, x.shape[0]):
        value = x[i]
        if weighted != value:
            weighted = (beta * weighted + alpha * value) / total_wt
        if i - start + 1 >= n:
            out[i] = weighted
    return out


@kernel("aii")
def macd_talib(x: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """TA-Lib's MACD line: both EMAs are seeded on windows that END on the same bar.

    TA-Lib seeds the fast EMA with the SMA of the ``fast`` values ending at bar ``slow - 1``
    (not at bar ``fast - 1`` as a standalone EMA would), so ``MACD != EMA(fast) - EMA(slow)``
    during the first few hundred bars. Reproduced here because "follows TA-Lib" means exactly
    this; the difference decays like ``(1 - 2 / (fast + 1)) ** bars``.
    """
    out = np.full(x.shape[0], np.nan)
    start = first_valid(x)
    seed_at = start + slow - 1
    if seed_at >= x.shape[0]:
        return out
    k_fast = 2.0 / (fast + 1)
    k_slow = 2.0 / (slow + 1)
    slow_total = 0.0
    for j in range(start, seed_at + 1):
        slow_total += x[j]
    fast_total = 0.0
    for j in range(seed_at - fast + 1, seed_at + 1):
        fast_total += x[j]
    prev_fast = fast_total / fast
    prev_slow = slow_total / slow
    out[seed_at] = prev_fast - prev_slow
    for i in range(seed_at + 1, x.shape[0]):
        prev_fast = ((x[i] - prev_fast) * k_fast) + prev_fast
        prev_slow = ((x[i] - prev_slow) * k_slow) + prev_slow
        out[i] = prev_fast - prev_slow
    return out


@kernel("ai")
def rsi_wilder(close: np.ndarray, n: int) -> np.ndarray:
    """TA-Lib RSI: average gain/loss seeded with the mean of the first ``n`` changes.

    A window without any change has no defined RSI; 50 (neutral) is returned there, where
    TA-Lib returns 0, so a flat market does not read as "oversold".
    """
    out = np.full(close.shape[0], np.nan)
    if close.shape[0] <= n:
        return out
    gain = 0.0
    loss = 0.0
    for i in range(1, n + 1):
        change = close[i] - close[i - 1]
        if change < 0:
            loss -= change
        else:
            gain += change
    gain /= n
    loss /= n
    out[n] = 50.0 if gain + loss == 0 else 100.0 * gain / (gain + loss)
    for i in range(n + 1, close.shape[0]):
        change = close[i] - close[i - 1]
        gain *= n - 1
        loss *= n - 1
        if change < 0:
            loss -= change
        else:
            gain += change
        gain /= n
        loss /= n
        out[i] = 50.0 if gain + loss == 0 else 100.0 * gain / (gain + loss)
    return out


@kernel("aaa")
def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range; undefined on the first bar (no previous close), as in TA-Lib."""
    out = np.full(close.shape[0], np.nan)
    for i in range(1, close.shape[0]):
        prev = close[i - 1]
        out[i] = max(high[i] - low[i], abs(high[i] - prev), abs(low[i] - prev))
    return out


@kernel("aaai")
def atr_wilder(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    """TA-Lib ATR: the first value (bar ``n``) is the mean of TR over bars 1..n, then Wilder."""
    tr = true_range(high, low, close)
    out = np.full(close.shape[0], np.nan)
    if close.shape[0] <= n:
        return out
    total = 0.0
    for i in range(1, n + 1):
        total += tr[i]
    prev = total / n
    out[n] = prev
    for i in range(n + 1, close.shape[0]):
        prev *= n - 1
        prev += tr[i]
        prev /= n
        out[i] = prev
    return out


@kernel("aai")
def _directional_move(high: np.ndarray, low: np.ndarray, i: int) -> tuple[float, float]:
    up = high[i] - high[i - 1]
    down = low[i - 1] - low[i]
    if down > 0 and up < down:
        return 0.0, down
    if up > 0 and up > down:
        return up, 0.0
    return 0.0, 0.0


@kernel("aaai")
def adx_wilder(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TA-Lib ADX, +DI and -DI.

    +DM, -DM and TR are Wilder *sums*: seeded with the plain sum over bars 1..n-1, then
    ``s = s - s / n + x`` from bar ``n`` on (so +DI/-DI start at bar ``n``). ADX is seeded at
    bar ``2n - 1`` with the mean of the first ``n`` DX values, then Wilder-averaged.
    """
    size = close.shape[0]
    adx = np.full(size, np.nan)
    plus_di = np.full(size, np.nan)
    minus_di = np.full(size, np.nan)
    if size <= n:
        return adx, plus_di, minus_di
    tr = true_range(high, low, close)
    plus_sum = 0.0
    minus_sum = 0.0
    tr_sum = 0.0
    for i in range(1, n):
        up, down = _directional_move(high, low, i)
        plus_sum += up
        minus_sum += down
        tr_sum += tr[i]
    dx_total = 0.0
    prev_adx = 0.0
    for i in range(n, size):
        up, down = _directional_move(high, low, i)
        plus_sum = plus_sum - plus_sum / n + up
        minus_sum = minus_sum - minus_sum / n + down
        tr_sum = tr_sum - tr_sum / n + tr[i]
        if tr_sum != 0:
            pdi = 100.0 * plus_sum / tr_sum
            mdi = 100.0 * minus_sum / tr_sum
        else:
            pdi = 0.0
            mdi = 0.0
        plus_di[i] = pdi
        minus_di[i] = mdi
        # A bar without range or direction has no DX: it adds nothing to the seed and leaves
        # the running ADX unchanged (TA-Lib), rather than pulling it towards zero.
        defined = pdi + mdi != 0
        dx = 100.0 * abs(pdi - mdi) / (pdi + mdi) if defined else 0.0
        if i < 2 * n - 1:
            dx_total += dx
        elif i == 2 * n - 1:
            prev_adx = (dx_total + dx) / n
            adx[i] = prev_adx
        else:
            if defined:
                prev_adx = (prev_adx * (n - 1) + dx) / n
            adx[i] = prev_adx
    return adx, plus_di, minus_di


@kernel("aa")
def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume, starting from the first bar's volume (TA-Lib)."""
    out = np.empty(close.shape[0])
    if close.shape[0] == 0:
        return out
    total = volume[0]
    out[0] = total
    for i in range(1, close.shape[0]):
        if close[i] > close[i - 1]:
            total += volume[i]
        elif close[i] < close[i - 1]:
            total -= volume[i]
        out[i] = total
    return out


@kernel("aai")
def window_ratio_of_sums(num: np.ndarray, den: np.ndarray, n: int) -> np.ndarray:
    """``sum(num) / sum(den)`` over each window of ``n`` bars (rolling VWAP)."""
    out = np.full(num.shape[0], np.nan)
    for i in range(n - 1, num.shape[0]):
        top = 0.0
        bottom = 0.0
        for j in range(i - n + 1, i + 1):
            top += num[j]
            bottom += den[j]
        if bottom != 0:
            out[i] = top / bottom
    return out


@kernel("aa-")
def session_ratio_of_sums(num: np.ndarray, den: np.ndarray, session: np.ndarray) -> np.ndarray:
    """Cumulative ``sum(num) / sum(den)`` restarting whenever ``session`` changes."""
    out = np.full(num.shape[0], np.nan)
    top = 0.0
    bottom = 0.0
    for i in range(num.shape[0]):
        if i == 0 or session[i] != session[i - 1]:
            top = 0.0
            bottom = 0.0
        top += num[i]
        bottom += den[i]
        if bottom != 0:
            out[i] = top / bottom
    return out
