"""Parameter sweeps through one compiled simulation kernel (``sweep_kernel``).

The kernel reproduces ``run_backtest`` under every convention it has - close or next-open
fills, taker/maker fees, slippage, stop-loss, take-profit, trailing stop, stop first on a
tie, gaps filling at the open, ``stops_from`` fill|next, limit entries, partial sizes,
``close_at_end`` - so each scenario's total return, entries, closed trades, win rate, max
drawdown and Sharpe equal the backtester's (tests hold every scenario to 1e-9).

- ``sweep_macd``: MACD crossovers (pandas convention). The EMAs of every distinct span are
  computed once with the indicators' ``ema_pandas``; the kernel derives the MACD line once
  per (fast, slow) pair and the crossings of all its signal spans in one pass. No Python
  per bar.
- ``sweep_signals``: precomputed entry/exit matrices (one row per scenario), closes only.
- ``sweep_strategy``: a table of parameter sets for any registered strategy - the MACD path
  for ``macd``, swing's signals built in compiled code from indicators computed once
  (``sweep_swing``), otherwise each row's ``strategy.signals`` (entries, exits, stop /
  target / limit levels, sizes; in chunks) through the same kernel.

Exit rules can be swept: columns ``stop_loss``, ``take_profit`` and ``trailing_stop`` of the
parameter table (fractions of the entry price; empty = the config's value) override
``BacktestConfig.stop_loss_pct`` / ``take_profit_pct`` / ``trailing_stop_pct`` per row.

Serial or parallel: a sweep runs the serial drivers unless its work (scenarios x bars)
reaches ``PARALLEL_MIN_WORK``; only then is ``sweep_parallel`` (``prange``) imported and its
threading layer started. The kernels are imported on first use. Kernels cache to
``__pycache__`` (``cache=True``); ``warm_up()`` compiles or loads them outside any timing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.data import DataError, check_bars, infer_bars_per_year
from trading_core.backtest.decisions import VISIBLE_FROM
from trading_core.backtest.warmup import apply_warmup
from trading_core.strategies import MacdParams, Strategy, get_strategy

SWEEP_METRICS: tuple[str, ...] = (
    "total_return",
    "entries",
    "closed_trades",
    "win_rate",
    "max_drawdown",
    "sharpe",
    "sortino",
    "calmar",
)

# Parameter-table columns that are exit rules (fractions of the entry price), not strategy
# parameters, and the ``BacktestConfig`` field each one overrides.
EXIT_RULE_COLUMNS: dict[str, str] = {
    "stop_loss": "stop_loss_pct",
    "take_profit": "take_profit_pct",
    "trailing_stop": "trailing_stop_pct",
}

# Scenarios x bars from which the parallel drivers pay. Measured on the 2-core machines
# (benchmarks/README.md, "Sweeps with every rule"): loading the cached ``prange`` drivers
# (omp layer) costs ~0.03 s beyond numba's own first-call ~0.6 s, and a serial scenario
# costs ~5 ns per bar, so from ~2e7 scenario-bars (~0.1 s serial) the second core wins.
PARALLEL_MIN_WORK = 20_000_000


def _drivers(work: int, parallel: bool | None) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(run_macd, run_signals)``: serial, or parallel when asked or when ``work`` is big;
    the ahead-of-time compiled ones when built and fresh (``sweep_aot``: no numba at all)."""
    from trading_core.backtest import sweep_aot

    compiled = sweep_aot.drivers(work, parallel)
    if compiled is not None:
        return compiled
    if parallel or (parallel is None and work >= PARALLEL_MIN_WORK):
        from trading_core.backtest import sweep_parallel

        return sweep_parallel.run_macd_parallel, sweep_parallel.run_signals_parallel
    from trading_core.backtest import sweep_kernel

    return sweep_kernel.run_macd, sweep_kernel.run_signals


def _nan_or(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _exit_rules(params: pd.DataFrame, config: BacktestConfig) -> np.ndarray:
    """Per row: stop-loss, take-profit, trailing fractions (NaN = none), checked like
    ``BacktestConfig`` checks them; an error names the column and the row."""
    rules = np.empty((len(params), 3))
    bounds = {"stop_loss": (0.0, 1.0), "take_profit": (0.0, math.inf), "trailing_stop": (0.0, 1.0)}
    for k, (column, field) in enumerate(EXIT_RULE_COLUMNS.items()):
        default = _nan_or(getattr(config, field))
        if column not in params.columns:
            rules[:, k] = default
            continue
        raw = params[column]
        values = pd.to_numeric(raw, errors="coerce")
        bad_type = values.isna() & raw.notna()
        if bad_type.any():
            row = int(np.flatnonzero(bad_type.to_numpy())[0])
            raise ValueError(f"{column} (row {row}): must be a number, got {raw.iloc[row]!r}")
        numbers = values.to_numpy(dtype=float)
        low, high = bounds[column]
        given = ~np.isnan(numbers)
        bad = given & ~((numbers > low) & (numbers < high))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            limit = f"(0, {high:g})" if math.isfinite(high) else "> 0 and finite"
            raise ValueError(f"{column} (row {row}): must be {limit}, got {numbers[row]}")
        rules[:, k] = np.where(given, numbers, default)
    return rules


def _ohlc(bars: pd.DataFrame) -> np.ndarray:
    """Open, high, low, close as rows; the engine refuses a non-finite or non-positive fill
    price, the kernel refuses every such bar up front (the error names column and bar)."""
    ohlc = np.ascontiguousarray(bars[["open", "high", "low", "close"]].to_numpy(np.float64).T)
    bad = ~(np.isfinite(ohlc) & (ohlc > 0))
    if bad.any():
        column, bar = (int(k[0]) for k in np.nonzero(bad))
        name = ("open", "high", "low", "close")[column]
        raise DataError(
            f"{name} (bar {bar}, {bars['ts'].iloc[bar]}): prices must be finite and > 0, "
            f"got {ohlc[column, bar]}"
        )
    return ohlc


def _conventions(config: BacktestConfig, bars_per_year: float) -> np.ndarray:
    """The kernel's ``conventions`` vector (``sweep_kernel.run_macd``)."""
    return np.array(
        [
            config.fee,
            config.maker,
            config.slippage_bps,
            float(config.fill == "next_open"),
            0.0 if config.stops_from == "fill" else 1.0,
            float(config.close_at_end),
            config.initial_cash,
            bars_per_year,
        ],
        dtype=np.float64,
    )


def _moments(scenarios: int, blocks: int) -> np.ndarray:
    """The kernel's per-block sums (scenarios x blocks x 2; zero blocks: none kept)."""
    if blocks < 0:
        raise ValueError(f"blocks must be >= 0, got {blocks}")
    return np.zeros((scenarios, blocks, 2))


def _to_frame(raw: np.ndarray, bars: int, scale: float) -> pd.DataFrame:
    """The kernel's ``OUT_FIELDS`` as ``SWEEP_METRICS`` over a window of ``bars`` bars;
    Calmar = CAGR / |max drawdown| as ``backtest.metrics`` computes it."""
    from trading_core.backtest import metrics

    wins = raw[:, 3]
    closed = raw[:, 2]
    win_rate = np.full(closed.shape, np.nan)
    np.divide(wins, closed, out=win_rate, where=closed > 0)
    calmar = [
        metrics.calmar_ratio(metrics.cagr(float(total), bars, scale), float(worst))
        for total, worst in zip(raw[:, 0], raw[:, 4], strict=True)
    ]
    return pd.DataFrame(
        {
            "total_return": raw[:, 0],
            "entries": raw[:, 1].astype(np.int64),
            "closed_trades": closed.astype(np.int64),
            "win_rate": win_rate,
            "max_drawdown": raw[:, 4],
            "sharpe": raw[:, 5],
            "sortino": raw[:, 6],
            "calmar": np.asarray(calmar, dtype=float).reshape(-1),
        }
    )


def _macd_raw(
    bars: pd.DataFrame,
    grid: pd.DataFrame,
    rules: np.ndarray,
    config: BacktestConfig,
    scale: float,
    start: int,
    parallel: bool | None,
    moments: np.ndarray,
) -> np.ndarray:
    from trading_core.indicators._kernels import ema_pandas

    ohlc = _ohlc(bars)
    close = np.ascontiguousarray(ohlc[3])
    spans = np.unique(np.concatenate([grid["fast"].to_numpy(), grid["slow"].to_numpy()]))
    row_of = {int(span): k for k, span in enumerate(spans)}
    emas = np.empty((spans.size, close.size))
    for k, span in enumerate(spans):
        emas[k] = ema_pandas(close, int(span))
    run_macd, _ = _drivers(len(grid) * close.size, parallel)
    return np.asarray(
        run_macd(
            ohlc,
            emas,
            grid["fast"].map(row_of).to_numpy(np.int64),
            grid["slow"].map(row_of).to_numpy(np.int64),
            grid["signal"].to_numpy(np.int64),
            np.ascontiguousarray(rules, dtype=np.float64),
            int(start),
            _conventions(config, scale),
            moments,
        )
    )


def sweep_macd(
    bars: pd.DataFrame,
    params: pd.DataFrame,
    fee: float = 0.001,
    initial_cash: float = 10_000.0,
    bars_per_year: float | None = None,
    start: int = 0,
    *,
    config: BacktestConfig | None = None,
    parallel: bool | None = None,
) -> pd.DataFrame:
    """``params`` (columns ``fast``, ``slow``, ``signal``; optionally the exit-rule columns)
    plus ``SWEEP_METRICS`` per row. ``config`` (default: ``fee`` and ``initial_cash``, close
    fills, no stops) sets every other convention. Bars before index ``start`` only warm up
    the EMAs (walk-forward windows use it)."""
    missing = [c for c in ("fast", "slow", "signal") if c not in params.columns]
    if missing:
        raise ValueError(f"MACD sweep parameters lack columns {missing}")
    cfg = config or BacktestConfig(fee=fee, initial_cash=initial_cash)
    grid = params[["fast", "slow", "signal"]].astype(np.int64)
    for row in grid.drop_duplicates().itertuples(index=False):
        MacdParams(fast=row.fast, slow=row.slow, signal=row.signal)
    checked = check_bars(bars)
    if VISIBLE_FROM in checked.columns:
        raise ValueError(
            "these bars hold a spike held at its close (column visible_from): the kernel's "
            "own crossings would decide on it; use sweep_strategy, which decides as live"
        )
    scale = bars_per_year or cfg.bars_per_year or infer_bars_per_year(checked["ts"])
    rules = _exit_rules(params, cfg)
    raw = _macd_raw(checked, grid, rules, cfg, scale, start, parallel, _moments(len(grid), 0))
    frame = _to_frame(raw, len(checked) - start, scale)
    return pd.concat([params.reset_index(drop=True), frame], axis=1)


def sweep_signals(
    close: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    fee: float = 0.001,
    initial_cash: float = 10_000.0,
    bars_per_year: float = 365.0,
    start: int = 0,
) -> pd.DataFrame:
    """``SWEEP_METRICS`` for each row of boolean ``entries``/``exits`` (scenarios x bars),
    close fills, no stops (closes are all the kernel needs then)."""
    close = np.asarray(close, dtype=np.float64)
    if entries.shape != exits.shape or entries.ndim != 2 or entries.shape[1] != close.shape[0]:
        raise ValueError(
            f"entries {entries.shape} and exits {exits.shape} must both be "
            f"(scenarios, {close.shape[0]} bars)"
        )
    ohlc = np.ascontiguousarray(np.stack([close] * 4))
    none = np.zeros((1, 0))
    _, run_signals = _drivers(entries.size, None)
    raw = run_signals(
        ohlc,
        np.ascontiguousarray(entries, dtype=np.bool_),
        np.ascontiguousarray(exits, dtype=np.bool_),
        False,
        none,
        none,
        none,
        none,
        np.full((entries.shape[0], 3), np.nan),
        int(start),
        _conventions(BacktestConfig(fee=fee, initial_cash=initial_cash), float(bars_per_year)),
        _moments(entries.shape[0], 0),
    )
    return _to_frame(np.asarray(raw), close.shape[0] - int(start), float(bars_per_year))


def macd_grid(
    fast: Iterable[int] = range(2, 41, 2),
    slow_per_fast: int = 12,
    slow_max: int = 80,
    signal: Iterable[int] = range(2, 21, 2),
) -> pd.DataFrame:
    """The benchmark grid: 20 fast x 12 slow x 10 signal = 2,400 MACD scenarios.

    fast = 2, 4, ..., 40; for each fast, ``slow_per_fast`` slow spans spread evenly (rounded)
    over ``fast + 1 .. slow_max``; signal = 2, 4, ..., 20. All inside STACK.md's space
    (fast 2..40, slow fast+1..80, signal 2..20); deterministic, no sampling.
    """
    rows: list[tuple[int, int, int]] = []
    for f in fast:
        slows = np.unique(np.rint(np.linspace(f + 1, slow_max, slow_per_fast)).astype(int))
        if slows.size != slow_per_fast:
            raise ValueError(f"fast={f}: only {slows.size} distinct slow spans up to {slow_max}")
        rows.extend((f, int(sl), g) for sl in slows for g in signal)
    return pd.DataFrame(rows, columns=["fast", "slow", "signal"])


def warm_up(parallel: bool = False) -> None:
    """Compile (or load from cache) the sweep kernels on a tiny input (``parallel``: the
    ``prange`` drivers too)."""
    ts = pd.date_range("2024-01-01", periods=64, freq="D")
    close = 100.0 + np.sin(np.arange(64) / 3.0)
    bars = pd.DataFrame({"ts": ts, "open": close, "high": close, "low": close, "close": close})
    modes = (False, True) if parallel else (False,)
    for mode in modes:
        sweep_macd(bars, pd.DataFrame({"fast": [3], "slow": [7], "signal": [3]}), parallel=mode)
        sweep_strategy(bars, "swing", pd.DataFrame({"rsi_period": [3]}), parallel=mode)


def _strategy_params(rows: pd.DataFrame) -> list[dict[str, Any]]:
    strategy_columns = [c for c in rows.columns if c not in EXIT_RULE_COLUMNS]
    return [
        {k: v for k, v in record.items() if not (isinstance(v, float) and math.isnan(v))}
        for record in rows[strategy_columns].to_dict(orient="records")
    ]


def _signals_raw(
    bars: pd.DataFrame,
    strategies: list[Strategy],
    rules: np.ndarray,
    config: BacktestConfig,
    scale: float,
    start: int,
    parallel: bool | None,
    chunk: int,
    progress: Callable[[int], None] | None,
    moments: np.ndarray,
) -> np.ndarray:
    from trading_core.backtest import sweep_swing
    from trading_core.backtest.sweep_arrays import (
        SignalSource,
        checked_levels,
        signal_matrix,
        uses_levels,
    )

    ohlc = _ohlc(bars)
    if sweep_swing.applies(strategies, bars):  # signals built in compiled code, threaded
        return sweep_swing.swing_raw(
            bars, ohlc, strategies, rules, _conventions(config, scale), start, parallel,
            chunk, progress, moments,
        )  # fmt: skip
    source = SignalSource(bars)
    _, run_signals = _drivers(len(strategies) * len(bars), parallel)
    pieces: list[np.ndarray] = []
    for first in range(0, len(strategies), chunk):
        batch = [source.arrays(s) for s in strategies[first : first + chunk]]
        for k, arrays in enumerate(batch):
            checked_levels(arrays, first + k)
        levels = any(uses_levels(a) for a in batch)
        raw = run_signals(
            ohlc,
            np.ascontiguousarray(np.stack([a["entry"] for a in batch]), dtype=np.bool_),
            np.ascontiguousarray(np.stack([a["exit"] for a in batch]), dtype=np.bool_),
            levels,
            signal_matrix(batch, "stop_loss", levels),
            signal_matrix(batch, "take_profit", levels),
            signal_matrix(batch, "limit_price", levels),
            signal_matrix(batch, "size_fraction", levels),
            np.ascontiguousarray(rules[first : first + chunk]),
            int(start),
            _conventions(config, scale),
            moments[first : first + chunk],
        )
        pieces.append(np.asarray(raw))
        if progress:
            progress(len(batch))
    return np.concatenate(pieces) if pieces else np.empty((0, 7))


def sweep_strategy(
    bars: pd.DataFrame,
    strategy: str,
    params: pd.DataFrame,
    config: BacktestConfig | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 64,
    start: int = 0,
    *,
    parallel: bool | None = None,
) -> pd.DataFrame:
    """One row per parameter set (``params``' columns plus ``SWEEP_METRICS``).

    Every row runs through the compiled kernel under ``config``'s conventions (swing rows
    with their signals built in compiled code too, ``sweep_swing``); the exit-rule columns
    (``EXIT_RULE_COLUMNS``) override its stops per row. ``progress`` is called with
    the number of rows finished since its previous call. Bars before index ``start`` only
    warm up indicators (``run_backtest``'s ``trade_from``); ``config.warmup`` other than
    "all" keeps the warm-up of the row needing the most (``backtest.warmup``).
    ``parallel``: None chooses by size (``PARALLEL_MIN_WORK``).
    """
    return sweep_blocks(
        bars, strategy, params, config, progress, chunk, start, parallel=parallel
    ).table


class BlockSweep(NamedTuple):
    """A sweep plus, per scenario, the sums of its per-bar returns and of their squares in
    ``blocks`` equal slices of the window (``moments``: scenarios x blocks x 2; ``counts``:
    bars per block) - what CSCV needs to rebuild any block combination's Sharpe ratio."""

    table: pd.DataFrame
    moments: np.ndarray
    counts: np.ndarray
    bars_per_year: float


def block_counts(bars: int, blocks: int) -> np.ndarray:
    """Bars per block when ``bars`` bars are cut as the kernel cuts them."""
    if blocks == 0:
        return np.zeros(0, dtype=np.int64)
    return np.bincount(np.arange(bars) * blocks // bars, minlength=blocks)


def sweep_blocks(
    bars: pd.DataFrame,
    strategy: str,
    params: pd.DataFrame,
    config: BacktestConfig | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 64,
    start: int = 0,
    *,
    parallel: bool | None = None,
    blocks: int = 0,
) -> BlockSweep:
    """``sweep_strategy`` keeping ``blocks`` per-block return sums per scenario (0: none)."""
    cfg = config or BacktestConfig()
    bars = check_bars(bars)
    if not 0 <= start < len(bars):
        raise ValueError(f"start must index one of the {len(bars)} bars, got {start}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    rows = params.reset_index(drop=True)
    rules = _exit_rules(rows, cfg)
    strategies = [get_strategy(strategy, record) for record in _strategy_params(rows)]
    if cfg.warmup != "all" and strategies:
        # One frame for every row: the warm-up of the row that needs the most (more history
        # only moves recursive indicators closer to their full-history values).
        longest = max(strategies, key=lambda s: s.warmup_bars)
        bars, start, _ = apply_warmup(bars, start, longest, cfg.warmup)
    scale = cfg.bars_per_year or infer_bars_per_year(bars["ts"])
    window = len(bars) - start
    if blocks > window:
        raise ValueError(f"blocks ({blocks}) cannot exceed the window's {window} bars")
    moments = _moments(len(rows), blocks)
    macd_params = [s.params for s in strategies if isinstance(s.params, MacdParams)]
    if (
        strategy == "macd"
        and strategies
        and len(macd_params) == len(strategies)
        and all(p.convention == "pandas" for p in macd_params)
        # the kernel's own crossings know no held spike (``decisions``): signal arrays then
        and VISIBLE_FROM not in bars.columns
    ):
        grid = pd.DataFrame(
            [(p.fast, p.slow, p.signal) for p in macd_params], columns=["fast", "slow", "signal"]
        )
        raw = _macd_raw(bars, grid, rules, cfg, scale, start, parallel, moments)
        if progress:
            progress(len(rows))
    else:
        raw = _signals_raw(
            bars, strategies, rules, cfg, scale, start, parallel, chunk, progress, moments
        )
    table = pd.concat([rows, _to_frame(raw, window, scale)], axis=1)
    return BlockSweep(table, moments, block_counts(window, blocks), float(scale))
