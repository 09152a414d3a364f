"""Parameter sweeps with compiled kernels (numba, parallel over scenarios).

The kernels reproduce ``run_backtest`` under its default conventions - long only,
all-in/all-out, fill at the signal bar's close, one fee rate on both sides, no slippage, no
stops, an open position valued at the last close - with the same arithmetic in the same
order, so each scenario's total return, entries, closed trades, win rate, max drawdown and
Sharpe equal the backtester's (tests hold them to 1e-9; in practice they agree to ~1e-15).

- ``sweep_macd``: MACD crossovers. The EMAs of every distinct span are computed once with the
  same ``ema_pandas`` kernel the indicators use; each scenario then derives its MACD line,
  signal line and crossings and simulates, in parallel over scenarios. No Python per bar.
- ``sweep_signals``: any precomputed entry/exit matrices (one row per scenario).
- ``sweep_strategy``: a table of parameter sets for any registered strategy - the MACD kernel
  for ``macd``, the signal kernel for strategies that emit only entries/exits, and the full
  backtester per row otherwise (limit orders, stops, partial sizes, non-default fills).

Numba compiles on first use and caches to ``__pycache__`` (``cache=True``); ``warm_up()``
triggers that outside any timing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from numba import njit, prange

from trading_core import position_sizing
from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.data import check_bars, infer_bars_per_year
from trading_core.backtest.engine import run_backtest
from trading_core.backtest.warmup import apply_warmup
from trading_core.indicators._kernels import ema_pandas
from trading_core.strategies import MacdParams, get_strategy

# The sizing formulas of ``position_sizing``, compiled: the kernel sizes as the engine does.
_entry_notional = njit(cache=True)(position_sizing.notional_arithmetic)
_all_in_quantity = njit(cache=True)(position_sizing.quantity_arithmetic)

SWEEP_METRICS: tuple[str, ...] = (
    "total_return",
    "entries",
    "closed_trades",
    "win_rate",
    "max_drawdown",
    "sharpe",
)


@njit(cache=True)
def _scenario(
    close: np.ndarray,
    fast_ema: np.ndarray,
    slow_ema: np.ndarray,
    span: int,
    entries: np.ndarray,
    exits: np.ndarray,
    given: bool,
    start: int,
    fee: float,
    initial_cash: float,
    bars_per_year: float,
    out: np.ndarray,
) -> None:
    """One backtest under the default conventions, in one pass over the bars.

    Signals are either ``entries``/``exits`` as given, or (``given=False``) the strict
    crossings (``strategies.crossed_above``) of the MACD line ``fast_ema - slow_ema`` and its
    signal line, an EMA of ``span`` computed with ``ema_pandas``'s arithmetic, inlined. The
    simulation mirrors ``engine.run_backtest``: exit first when holding, else entry when flat;
    all-in quantity ``cash / (price * (1 + fee))`` from ``position_sizing``'s compiled
    formulas; mark to market at the close. A flat bar
    without a trade has the previous value: its return is exactly 0 and its drawdown already
    counted, so it is skipped (bit-identical, and most of the speed). Writes total return,
    entries, closed trades, wins, max drawdown and Sharpe into ``out``.
    """
    size = close.shape[0]
    first = 0
    if not given:
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
    n_entries = 0
    n_closed = 0
    n_wins = 0
    value = initial_cash
    peak = -np.inf
    worst = 0.0
    total = 0.0
    squares = 0.0
    for i in range(size):
        if given:
            enter = entries[i]
            leave = exits[i]
        else:
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
        price = close[i]
        traded = False
        if holding:
            if leave:
                notional = quantity * price
                proceeds = notional - abs(notional) * fee
                cash += proceeds
                n_closed += 1
                if proceeds - spend > 0:
                    n_wins += 1
                holding = False
                traded = True
        elif enter:
            spend = _entry_notional(cash, cash, 1.0, 1.0)
            quantity = _all_in_quantity(spend, price, fee)
            cash -= spend
            holding = True
            n_entries += 1
            traded = True
        if holding or traded:
            marked = cash + quantity * price if holding else cash + 0.0
            change = marked / value - 1.0
            value = marked
            total += change
            squares += change * change
            if value > peak:
                peak = value
            drawdown = value / peak - 1.0
            if drawdown < worst:
                worst = drawdown
        elif peak == -np.inf:
            peak = value
    count = size - start
    sharpe = np.nan
    if count > 1:
        mean = total / count
        variance = (squares - total * mean) / (count - 1)
        if variance > 0:
            sharpe = mean / np.sqrt(variance) * np.sqrt(bars_per_year)
    out[0] = value / initial_cash - 1.0
    out[1] = n_entries
    out[2] = n_closed
    out[3] = n_wins
    out[4] = worst
    out[5] = sharpe


@njit(cache=True, parallel=True)
def _macd_kernel(
    close: np.ndarray,
    emas: np.ndarray,
    fast_row: np.ndarray,
    slow_row: np.ndarray,
    signal: np.ndarray,
    start: int,
    fee: float,
    initial_cash: float,
    bars_per_year: float,
) -> np.ndarray:
    out = np.empty((fast_row.shape[0], 6))
    unused = np.zeros(0, dtype=np.bool_)
    for s in prange(fast_row.shape[0]):
        _scenario(
            close,
            emas[fast_row[s]],
            emas[slow_row[s]],
            signal[s],
            unused,
            unused,
            False,
            start,
            fee,
            initial_cash,
            bars_per_year,
            out[s],
        )
    return out


@njit(cache=True, parallel=True)
def _signals_kernel(
    close: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    start: int,
    fee: float,
    initial_cash: float,
    bars_per_year: float,
) -> np.ndarray:
    out = np.empty((entries.shape[0], 6))
    unused = np.zeros(0)
    for s in prange(entries.shape[0]):
        _scenario(
            close,
            unused,
            unused,
            1,
            entries[s],
            exits[s],
            True,
            start,
            fee,
            initial_cash,
            bars_per_year,
            out[s],
        )
    return out


def _to_frame(raw: np.ndarray) -> pd.DataFrame:
    wins = raw[:, 3]
    closed = raw[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(closed > 0, wins / np.where(closed > 0, closed, 1.0), np.nan)
    return pd.DataFrame(
        {
            "total_return": raw[:, 0],
            "entries": raw[:, 1].astype(np.int64),
            "closed_trades": closed.astype(np.int64),
            "win_rate": win_rate,
            "max_drawdown": raw[:, 4],
            "sharpe": raw[:, 5],
        }
    )


def _close_and_scale(bars: pd.DataFrame, bars_per_year: float | None) -> tuple[np.ndarray, float]:
    checked = check_bars(bars)
    close = np.ascontiguousarray(checked["close"].to_numpy(dtype=np.float64))
    return close, bars_per_year or infer_bars_per_year(checked["ts"])


def sweep_macd(
    bars: pd.DataFrame,
    params: pd.DataFrame,
    fee: float = 0.001,
    initial_cash: float = 10_000.0,
    bars_per_year: float | None = None,
    start: int = 0,
) -> pd.DataFrame:
    """``params`` (columns ``fast``, ``slow``, ``signal``) plus ``SWEEP_METRICS`` per row.

    Bars before index ``start`` only warm up the EMAs (walk-forward windows use it).
    """
    missing = [c for c in ("fast", "slow", "signal") if c not in params.columns]
    if missing:
        raise ValueError(f"MACD sweep parameters lack columns {missing}")
    grid = params[["fast", "slow", "signal"]].astype(np.int64)
    for row in grid.drop_duplicates().itertuples(index=False):
        MacdParams(fast=row.fast, slow=row.slow, signal=row.signal)
    close, scale = _close_and_scale(bars, bars_per_year)
    spans = np.unique(np.concatenate([grid["fast"].to_numpy(), grid["slow"].to_numpy()]))
    row_of = {int(span): k for k, span in enumerate(spans)}
    emas = np.empty((spans.size, close.size))
    for k, span in enumerate(spans):
        emas[k] = ema_pandas(close, int(span))
    raw = _macd_kernel(
        close,
        emas,
        grid["fast"].map(row_of).to_numpy(np.int64),
        grid["slow"].map(row_of).to_numpy(np.int64),
        grid["signal"].to_numpy(np.int64),
        int(start),
        float(fee),
        float(initial_cash),
        float(scale),
    )
    return pd.concat([params.reset_index(drop=True), _to_frame(raw)], axis=1)


def sweep_signals(
    close: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    fee: float = 0.001,
    initial_cash: float = 10_000.0,
    bars_per_year: float = 365.0,
    start: int = 0,
) -> pd.DataFrame:
    """``SWEEP_METRICS`` for each row of boolean ``entries``/``exits`` (scenarios x bars)."""
    if entries.shape != exits.shape or entries.shape[1] != close.shape[0]:
        raise ValueError(
            f"entries {entries.shape} and exits {exits.shape} must both be "
            f"(scenarios, {close.shape[0]} bars)"
        )
    raw = _signals_kernel(
        np.ascontiguousarray(close, dtype=np.float64),
        np.ascontiguousarray(entries, dtype=np.bool_),
        np.ascontiguousarray(exits, dtype=np.bool_),
        int(start),
        float(fee),
        float(initial_cash),
        float(bars_per_year),
    )
    return _to_frame(raw)


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


def warm_up() -> None:
    """Compile (or load from cache) every sweep kernel on a tiny input."""
    ts = pd.date_range("2024-01-01", periods=64, freq="D")
    close = 100.0 + np.sin(np.arange(64) / 3.0)
    bars = pd.DataFrame({"ts": ts, "open": close, "high": close, "low": close, "close": close})
    sweep_macd(bars, pd.DataFrame({"fast": [3], "slow": [7], "signal": [3]}))
    flags = np.zeros((1, 64), dtype=bool)
    sweep_signals(close, flags, flags)


def _signal_only(signals: pd.DataFrame) -> bool:
    return bool(
        signals[["stop_loss", "take_profit", "limit_price"]].isna().all().all()
        and (signals["size_fraction"] == 1.0).all()
    )


def sweep_strategy(
    bars: pd.DataFrame,
    strategy: str,
    params: pd.DataFrame,
    config: BacktestConfig | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 64,
    start: int = 0,
) -> pd.DataFrame:
    """One row per parameter set (``params``' columns plus ``SWEEP_METRICS``).

    Chooses the fastest exact path (see the module docstring). ``progress`` is called with
    the number of rows finished since its previous call. Bars before index ``start`` only
    warm up indicators (``run_backtest``'s ``trade_from``); ``config.warmup`` other than
    "all" keeps the warm-up of the row needing the most (``backtest.warmup``).
    """
    cfg = config or BacktestConfig()
    bars = check_bars(bars)
    if not 0 <= start < len(bars):
        raise ValueError(f"start must index one of the {len(bars)} bars, got {start}")
    rows = params.reset_index(drop=True)
    records = [
        {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
        for row in rows.to_dict(orient="records")
    ]
    strategies = [get_strategy(strategy, record) for record in records]
    if cfg.warmup != "all" and strategies:
        # One frame for every row: the warm-up of the row that needs the most (more history
        # only moves recursive indicators closer to their full-history values).
        longest = max(strategies, key=lambda s: s.warmup_bars)
        bars, start, _ = apply_warmup(bars, start, longest, cfg.warmup)
    scale = cfg.bars_per_year or infer_bars_per_year(bars["ts"])
    kernel_ok = cfg.uses_defaults_of_sweep_kernel
    macd_params = [s.params for s in strategies if isinstance(s.params, MacdParams)]
    if (
        strategy == "macd"
        and kernel_ok
        and len(macd_params) == len(strategies)
        and all(p.convention == "pandas" for p in macd_params)
    ):
        grid = pd.DataFrame(
            [(p.fast, p.slow, p.signal) for p in macd_params],
            columns=["fast", "slow", "signal"],
        )
        metrics = sweep_macd(bars, grid, cfg.fee, cfg.initial_cash, scale, start).drop(
            columns=["fast", "slow", "signal"]
        )
        if progress:
            progress(len(rows))
        return pd.concat([rows, metrics], axis=1)
    close = bars["close"].to_numpy(dtype=np.float64)
    pieces: list[pd.DataFrame] = []
    for first in range(0, len(strategies), chunk):
        batch = strategies[first : first + chunk]
        signals = [s.signals(bars) for s in batch]
        if kernel_ok and all(_signal_only(sig) for sig in signals):
            pieces.append(
                sweep_signals(
                    close,
                    np.stack([sig["entry"].to_numpy() for sig in signals]),
                    np.stack([sig["exit"].to_numpy() for sig in signals]),
                    cfg.fee,
                    cfg.initial_cash,
                    scale,
                    start,
                )
            )
        else:
            trade_from = bars["ts"].iloc[start]
            results = [run_backtest(bars, s, cfg, trade_from, journal=False).metrics for s in batch]
            pieces.append(pd.DataFrame([{k: r[k] for k in SWEEP_METRICS} for r in results]))
        if progress:
            progress(len(batch))
    return pd.concat([rows, pd.concat(pieces, ignore_index=True)], axis=1)
