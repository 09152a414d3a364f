"""The sweep drivers of the ahead-of-time compiled module (``trading_core.aot``), on threads.

``drivers(work, parallel)`` gives ``(run_macd, run_signals)`` with ``sweep_kernel``'s
signatures, backed by the compiled module when it is fresh (``None`` otherwise: the caller
uses the numba JIT). The compiled functions release the GIL, so a big sweep is cut into
chunks of consecutive scenarios run by a thread pool, one thread per core - the parallel
drivers without numba's threading layer; each scenario is computed by the same code
whichever chunk holds it, so the bits do not depend on the number of threads. Arrays are
made C-contiguous with the dtypes the module's signatures name (no copy when they already
are). Nothing here imports numba.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import numpy as np

from trading_core import aot

# scenarios x bars from which threads pay (a thread pool costs ~0.1 ms; a bar ~10 ns)
THREADS_MIN_WORK = 1_000_000
# chunks per thread: MACD grids put the busiest scenarios (short spans) together
CHUNKS_PER_THREAD = 8


def threads_for(work: int, parallel: bool | None) -> int:
    """1 when ``parallel`` is False or the work is small (``parallel`` None), else one per
    usable core."""
    if parallel is False or (parallel is None and work < THREADS_MIN_WORK):
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _f8(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _i8(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def _chunked(scenarios: int, threads: int, run: Callable[[int, int], np.ndarray]) -> np.ndarray:
    """``run(first, stop)`` over consecutive chunks of the scenarios, on ``threads``; the
    chunks' rows in scenario order."""
    if threads <= 1 or scenarios <= 1:
        return run(0, scenarios)
    pieces = min(scenarios, threads * CHUNKS_PER_THREAD)
    bounds = np.linspace(0, scenarios, pieces + 1).astype(np.int64)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(run, int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
        return np.concatenate([future.result() for future in futures])


def _macd_driver(module: ModuleType, threads: int) -> Callable[..., np.ndarray]:
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
        ohlc, emas, rules, conventions = _f8(ohlc), _f8(emas), _f8(rules), _f8(conventions)
        fast_row, slow_row, signal = _i8(fast_row), _i8(slow_row), _i8(signal)
        sums = _f8(moments)

        def run(a: int, b: int) -> np.ndarray:
            return np.asarray(
                module.run_macd(
                    ohlc, emas, fast_row[a:b], slow_row[a:b], signal[a:b], rules[a:b],
                    int(start), conventions, sums[a:b],
                )
            )  # fmt: skip

        out = _chunked(signal.shape[0], threads, run)
        if sums is not moments:
            moments[...] = sums
        return out

    return run_macd


def _signals_driver(module: ModuleType, threads: int) -> Callable[..., np.ndarray]:
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
        ohlc, rules, conventions = _f8(ohlc), _f8(rules), _f8(conventions)
        entries = np.ascontiguousarray(entries, dtype=np.bool_)
        exits = np.ascontiguousarray(exits, dtype=np.bool_)
        lv = [_f8(m) for m in (stop_lv, take_lv, limit_lv, fraction_lv)]
        sums = _f8(moments)

        def run(a: int, b: int) -> np.ndarray:
            rows = [m[a:b] for m in lv] if levels else lv  # no levels: one shared empty row
            return np.asarray(
                module.run_signals(
                    ohlc, entries[a:b], exits[a:b], bool(levels), *rows, rules[a:b],
                    int(start), conventions, sums[a:b],
                )
            )  # fmt: skip

        out = _chunked(entries.shape[0], threads, run)
        if sums is not moments:
            moments[...] = sums
        return out

    return run_signals


def drivers(
    work: int, parallel: bool | None
) -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """``(run_macd, run_signals)`` of the compiled module, threaded by ``threads_for``;
    ``None`` when the module is absent, stale or turned off (``aot.status()``)."""
    module = aot.load()
    if module is None:
        return None
    threads = threads_for(work, parallel)
    return _macd_driver(module, threads), _signals_driver(module, threads)
