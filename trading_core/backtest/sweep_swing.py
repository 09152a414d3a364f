"""Swing sweeps through compiled signals: the indicators once per sweep, each scenario's
entries and exits built in compiled code (``sweep_swing_kernel.run_swing``), threaded.

``plan`` computes, with the very indicator functions ``SwingStrategy.compute`` calls, one
RSI row per distinct period, one lower and middle Bollinger row per distinct period and
width, and one "entry allowed" row per distinct regime/alignment filter (``entry_filter``,
the strategy's own rule, on the bars as the strategy sees them); it numbers the distinct
entry rules (RSI, band, filter, oversold) and exit rules (RSI, band, overbought) and orders
the scenarios so that those sharing a rule come together. Held spikes (``decisions``): when
every bar decided while another was held is itself held (``only_held_affected``), live's
decisions are the signals with the held bars off, a mask the kernel applies; otherwise
(``applies`` is False) the rows go through ``decision_signals`` one by one, as before.

The kernel is the ahead-of-time module's ``run_swing`` when the module is fresh (its stamp
covers this kernel's source, ``aot.SOURCES``), else the numba JIT; both release
the GIL, so chunks of consecutive scenarios run on one thread per core (``sweep_aot``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from trading_core import aot
from trading_core.backtest.decisions import VISIBLE_FROM, may_decide, only_held_affected
from trading_core.indicators import bollinger, rsi
from trading_core.indicators._series import label
from trading_core.strategies import Strategy
from trading_core.strategies.filters import entry_filter
from trading_core.strategies.swing import SwingParams

# bytes of cached signal rows per kernel call (entries and exits together), and of the
# batch of rows handed to ``run_signals`` at once (each batch computes its shared sums once)
CACHE_BYTES = 32 * 1024 * 1024
BATCH_BYTES = 8 * 1024 * 1024
BATCH_MAX = 256


class SwingPlan(NamedTuple):
    """The kernel's inputs besides prices and conventions; per-scenario arrays are in
    ``order`` (the scenarios sorted by their rules)."""

    rsis: np.ndarray
    lowers: np.ndarray
    middles: np.ndarray
    allowed: np.ndarray
    decide: np.ndarray
    entry_keys: np.ndarray
    entry_levels: np.ndarray
    exit_keys: np.ndarray
    exit_levels: np.ndarray
    entry_of: np.ndarray
    exit_of: np.ndarray
    stop_pct: np.ndarray
    take_pct: np.ndarray
    order: np.ndarray
    cache_rows: int


def applies(strategies: list[Strategy], bars: pd.DataFrame) -> bool:
    """Whether every row is swing and the bars' held spikes (if any) are a mask."""
    return (
        bool(strategies)
        and all(s.name == "swing" and isinstance(s.params, SwingParams) for s in strategies)
        and only_held_affected(bars)
    )


def _filter_key(p: SwingParams) -> Hashable:
    if p.regime_trend == "any" and p.regime_vol == "any" and not p.mtf_timeframes:
        return None
    return (p.regime_trend, p.regime_vol, p.mtf_timeframes, p.mtf_span)


def _rows(keys: dict[Any, int], key: Any) -> int:
    return keys.setdefault(key, len(keys))


def _dense(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``columns`` (sorted) and each scenario's index among them."""
    table = np.column_stack(columns).astype(np.float64)
    unique, inverse = np.unique(table, axis=0, return_inverse=True)
    return unique, np.ascontiguousarray(inverse.reshape(-1), dtype=np.int64)


def _cache_rows(pair: np.ndarray, ids: np.ndarray, bars: int) -> int:
    """Slots enough for the most distinct ids of one indicator pair, within ``CACHE_BYTES``."""
    most = int(pd.Series(ids).groupby(pair).nunique().max()) if ids.size else 1
    return max(1, min(most, CACHE_BYTES // max(1, 2 * bars)))


def plan(bars: pd.DataFrame, params: list[SwingParams]) -> SwingPlan:
    """The indicator rows and rule numbering of a swing sweep over ``params``."""
    prices = bars.drop(columns=VISIBLE_FROM, errors="ignore")
    close = prices["close"]
    decide = may_decide(bars)
    periods: dict[int, int] = {}
    bands: dict[tuple[int, float], int] = {}
    filters: dict[Hashable, int] = {}
    filter_params: dict[Hashable, SwingParams] = {}
    columns = np.empty((len(params), 7))
    for k, p in enumerate(params):
        key = _filter_key(p)
        filter_params.setdefault(key, p)
        columns[k] = (
            _rows(periods, p.rsi_period),
            _rows(bands, (p.bb_period, p.bb_std)),
            _rows(filters, key),
            p.oversold,
            p.overbought,
            math.nan if p.stop_loss_pct is None else p.stop_loss_pct,
            math.nan if p.take_profit_pct is None else p.take_profit_pct,
        )
    rsis = np.stack([rsi(close, n).to_numpy(np.float64) for n in periods])
    lowers, middles = np.empty((len(bands), len(bars))), np.empty((len(bands), len(bars)))
    for (n, width), row in bands.items():
        frame = bollinger(close, n, width)
        lowers[row] = frame[f"bb_lower_{n}_{label(width)}"].to_numpy(np.float64)
        middles[row] = frame[f"bb_middle_{n}_{label(width)}"].to_numpy(np.float64)
    allowed = np.empty((len(filters), len(bars)), dtype=np.bool_)
    for key, row in filters.items():
        if key is None:
            allowed[row] = decide
        else:
            allowed[row] = decide & entry_filter(prices, filter_params[key])[0].to_numpy(bool)
    order = np.lexsort(columns[:, [4, 3, 2, 1, 0]].T)
    ordered = columns[order]
    entry_keys, entry_of = _dense([ordered[:, c] for c in (0, 1, 2, 3)])
    exit_keys, exit_of = _dense([ordered[:, c] for c in (0, 1, 4)])
    pair = ordered[:, 0] * len(bands) + ordered[:, 1]
    cache = max(_cache_rows(pair, entry_of, len(bars)), _cache_rows(pair, exit_of, len(bars)))
    return SwingPlan(
        rsis, lowers, middles, allowed, np.ascontiguousarray(decide, dtype=np.bool_),
        np.ascontiguousarray(entry_keys[:, :3], dtype=np.int64),
        np.ascontiguousarray(entry_keys[:, 3]),
        np.ascontiguousarray(exit_keys[:, :2], dtype=np.int64),
        np.ascontiguousarray(exit_keys[:, 2]),
        entry_of, exit_of,
        np.ascontiguousarray(ordered[:, 5]), np.ascontiguousarray(ordered[:, 6]),
        order.astype(np.int64), cache,
    )  # fmt: skip


def kernel() -> Callable[..., np.ndarray]:
    """``run_swing`` of the compiled module when it is fresh (its stamp covers this kernel's
    source: ``aot.SOURCES``), else the numba JIT's (imported only then)."""
    module = aot.load()
    compiled = getattr(module, "run_swing", None) if module is not None else None
    if compiled is not None:
        return compiled
    from trading_core.backtest import sweep_swing_kernel

    return sweep_swing_kernel.run_swing


def _bounds(count: int, threads: int) -> list[tuple[int, int]]:
    """Consecutive pieces of ``count`` scenarios: several per thread (a piece's cost
    depends on its trades), none shorter than a few scenarios (each fills its own cache)."""
    from trading_core.backtest.sweep_aot import CHUNKS_PER_THREAD

    pieces = 1 if threads <= 1 else max(1, min(threads * CHUNKS_PER_THREAD, count // 8))
    edges = np.linspace(0, count, pieces + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


def _checked_odd_levels(bars: pd.DataFrame, strategies: list[Strategy], close: np.ndarray) -> None:
    """A take-profit so large that ``close x (1 + pct)`` overflows (or a stop that rounds
    to 0) is refused on an entry bar as the engine refuses it: only such rows need their
    entries from the strategy itself (``sweep_arrays.checked_levels``)."""
    from trading_core.backtest.sweep_arrays import SignalSource, checked_levels

    source: SignalSource | None = None
    for row, strategy in enumerate(strategies):
        p = strategy.params
        assert isinstance(p, SwingParams)
        huge = p.take_profit_pct is not None and not math.isfinite(
            close.max() * (1.0 + p.take_profit_pct)
        )
        tiny = p.stop_loss_pct is not None and not close.min() * (1.0 - p.stop_loss_pct) > 0.0
        if huge or tiny:
            source = source or SignalSource(bars)
            checked_levels(source.arrays(strategy), row)


def swing_raw(
    bars: pd.DataFrame,
    ohlc: np.ndarray,
    strategies: list[Strategy],
    rules: np.ndarray,
    conventions: np.ndarray,
    start: int,
    parallel: bool | None,
    chunk: int,
    progress: Callable[[int], None] | None,
    moments: np.ndarray,
) -> np.ndarray:
    """``OUT_FIELDS`` per row of a swing sweep (``applies`` must hold); ``moments`` filled in
    place. ``progress`` (when given) hears of every ``chunk`` rows done."""
    from trading_core.backtest.sweep_aot import threads_for

    _checked_odd_levels(bars, strategies, ohlc[3])
    p = plan(bars, [s.params for s in strategies if isinstance(s.params, SwingParams)])
    run = kernel()
    order = p.order
    sorted_rules = np.ascontiguousarray(rules[order], dtype=np.float64)
    sums = np.ascontiguousarray(moments[order], dtype=np.float64)
    threads = threads_for(len(strategies) * ohlc.shape[1], parallel)
    batch = max(1, min(BATCH_MAX, BATCH_BYTES // max(1, 2 * ohlc.shape[1])))

    def piece(bounds: tuple[int, int]) -> np.ndarray:
        a, b = bounds
        return np.asarray(
            run(
                ohlc, p.rsis, p.lowers, p.middles, p.allowed, p.decide, p.entry_keys,
                p.entry_levels, p.exit_keys, p.exit_levels, p.entry_of[a:b], p.exit_of[a:b],
                p.stop_pct[a:b], p.take_pct[a:b], sorted_rules[a:b], int(start), conventions,
                sums[a:b], p.cache_rows, batch,
            )
        )  # fmt: skip

    step = chunk if progress else len(strategies)
    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
    pieces: list[np.ndarray] = []
    try:
        for first in range(0, len(strategies), step):
            stop = min(first + step, len(strategies))
            parts = [(first + a, first + b) for a, b in _bounds(stop - first, threads)]
            pieces.extend(pool.map(piece, parts) if pool else map(piece, parts))
            if progress:
                progress(stop - first)
    finally:
        if pool:
            pool.shutdown()
    done = np.concatenate(pieces)
    result = np.empty_like(done)
    result[order] = done
    moments[order] = sums
    return result
