"""Overfitting statistics of a parameter search on real bars: PBO and the deflated Sharpe.

``sweep_overfitting`` sweeps the candidates once through the compiled kernel, keeping the
per-block sums CSCV needs (``sweep.sweep_blocks``), and reports PBO over the candidates
and the deflated Sharpe ratio of the best one (by Sharpe): N = the number of candidates, V
the variance of their per-bar Sharpe ratios, the skewness and kurtosis of the winner's
per-bar returns (the kernel run once more for that row, one block per bar).
``selection_dsr`` gives the deflated Sharpe of any chosen parameter set against a list of
trial Sharpe ratios (optuna's trials, walk-forward's candidates).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from trading_core.backtest import metrics
from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.engine import run_backtest
from trading_core.backtest.sweep import EXIT_RULE_COLUMNS, BlockSweep, sweep_blocks
from trading_core.research.overfitting import (
    deflated_sharpe,
    pbo_cscv,
    robustness,
    sample_moments,
)
from trading_core.strategies import get_strategy

DEFAULT_BLOCKS = 16


def backtest_returns(
    bars: pd.DataFrame,
    strategy: str,
    params: dict[str, Any],
    config: BacktestConfig,
    start: int = 0,
) -> tuple[np.ndarray, Any]:
    """Per-bar returns of one parameter set (exit-rule keys go into the config) from
    ``start`` on, and the backtest result."""
    rules = {EXIT_RULE_COLUMNS[k]: float(v) for k, v in params.items() if k in EXIT_RULE_COLUMNS}
    plain = {k: v for k, v in params.items() if k not in EXIT_RULE_COLUMNS}
    cfg = config.model_copy(update=rules) if rules else config
    trade_from = bars["ts"].iloc[start] if start else None
    result = run_backtest(bars, get_strategy(strategy, plain), cfg, trade_from=trade_from)
    equity = result.equity.to_numpy(dtype=float)
    return metrics.per_bar_returns(equity, cfg.initial_cash), result


def kernel_returns(
    bars: pd.DataFrame, strategy: str, row: pd.DataFrame, config: BacktestConfig, start: int
) -> np.ndarray:
    """The per-bar returns of one parameter row from ``start`` on, from the sweep kernel
    itself: one block per bar, so each block's sum is that bar's return (the kernel equals
    the backtester to 1e-9; no Python backtest needed)."""
    window = len(bars) - start
    swept = sweep_blocks(bars, strategy, row, config, start=start, blocks=window)
    return swept.moments[0, :, 0].copy()


def selection_dsr(
    returns: np.ndarray, trial_sharpes_annual: np.ndarray, bars_per_year: float
) -> dict[str, float]:
    """Deflated Sharpe of ``returns`` (the chosen set's per-bar returns) against trials whose
    annualised Sharpe ratios are given (de-annualised by sqrt(bars per year))."""
    sharpe, skew, kurt = sample_moments(returns)
    trials = np.asarray(trial_sharpes_annual, dtype=float) / math.sqrt(bars_per_year)
    shape = {"sharpe": sharpe, "skew": skew, "kurtosis": kurt, "n_obs": len(returns)}
    if not math.isfinite(sharpe) or trials.size == 0:
        empty = {"dsr": math.nan, "sr0": math.nan, "variance": math.nan}
        return {**empty, "n_trials": trials.size, **shape}
    out = deflated_sharpe(sharpe, max(2, len(returns)), trials, skew=skew, kurtosis=kurt)
    return {**out, **shape}


def block_overfitting(
    swept: BlockSweep,
    bars: pd.DataFrame,
    strategy: str,
    params: pd.DataFrame,
    config: BacktestConfig,
    start: int,
) -> dict[str, Any]:
    """PBO from a block sweep's sums, the deflated Sharpe of its best row (by Sharpe, from a
    second kernel run of that row, one block per bar) and the verdict."""
    rows = params.reset_index(drop=True)
    table = swept.table
    blocks = int(swept.counts.size)
    out: dict[str, Any] = {"blocks": blocks, "candidates": len(rows)}
    pbo = None
    if len(rows) >= 2 and blocks >= 2:
        pbo = pbo_cscv(swept.moments, swept.counts).summary()
    out["pbo"] = pbo
    ranked = table["sharpe"].astype(float).fillna(-np.inf).to_numpy()
    best = int(ranked.argmax())
    choice = {k: v for k, v in rows.iloc[[best]].to_dict(orient="records")[0].items()
              if not pd.isna(v)}  # fmt: skip
    returns = kernel_returns(bars, strategy, rows.iloc[[best]], config, start)
    out["dsr"] = selection_dsr(returns, table["sharpe"].to_numpy(), swept.bars_per_year)
    out["best"] = {"row": best, "params": choice, "sharpe": float(table["sharpe"].iloc[best])}
    out.update(robustness(pbo=None if pbo is None else pbo["pbo"], dsr=out["dsr"]["dsr"]))
    return out


def sweep_overfitting(
    bars: pd.DataFrame,
    strategy: str,
    params: pd.DataFrame,
    config: BacktestConfig | None = None,
    *,
    start: int = 0,
    blocks: int = DEFAULT_BLOCKS,
) -> dict[str, Any]:
    """``block_overfitting`` of one sweep of ``params`` over ``bars`` (bars before ``start``
    only warm up). PBO needs 2 or more candidates."""
    cfg = (config or BacktestConfig()).model_copy(update={"warmup": "all"})
    rows = params.reset_index(drop=True)
    swept = sweep_blocks(bars, strategy, rows, cfg, start=start, blocks=blocks)
    return block_overfitting(swept, bars, strategy, rows, cfg, start)
