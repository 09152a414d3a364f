"""Overfitting statistics of a parameter search on real bars: PBO and the deflated Sharpe.

``sweep_overfitting`` sweeps the candidates once through the compiled kernel, keeping the
per-block sums CSCV needs (``sweep.sweep_blocks``), and reports PBO over the candidates
and the deflated Sharpe ratio of the best one (by Sharpe): N = the number of candidates, V
the variance of their per-bar Sharpe ratios, the skewness and kurtosis of the winner's
per-bar returns from a reference backtest (``run_backtest``) of it over the same window.
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
from trading_core.backtest.sweep import EXIT_RULE_COLUMNS, sweep_blocks
from trading_core.research.overfitting import deflated_sharpe, pbo_cscv, sample_moments
from trading_core.strategies import get_strategy

DEFAULT_BLOCKS = 16


def _row_params(row: pd.Series, columns: list[str]) -> dict[str, Any]:
    return {k: row[k] for k in columns if not pd.isna(row[k])}


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


def sweep_overfitting(
    bars: pd.DataFrame,
    strategy: str,
    params: pd.DataFrame,
    config: BacktestConfig | None = None,
    *,
    start: int = 0,
    blocks: int = DEFAULT_BLOCKS,
) -> dict[str, Any]:
    """``{"pbo": {...}, "dsr": {...}, "best": {...}}`` for the candidates ``params`` (see the
    module docstring); bars before ``start`` only warm up. PBO needs 2 or more candidates."""
    cfg = (config or BacktestConfig()).model_copy(update={"warmup": "all"})
    rows = params.reset_index(drop=True)
    swept = sweep_blocks(bars, strategy, rows, cfg, start=start, blocks=blocks)
    table = swept.table
    out: dict[str, Any] = {"blocks": blocks, "candidates": len(rows)}
    if len(rows) >= 2 and blocks >= 2:
        out["pbo"] = pbo_cscv(swept.moments, swept.counts).summary()
    else:
        out["pbo"] = None
    ranked = table["sharpe"].fillna(-np.inf)
    best = int(ranked.to_numpy().argmax())
    choice = _row_params(table.iloc[best], list(rows.columns))
    returns, _ = backtest_returns(bars, strategy, choice, cfg, start)
    out["dsr"] = selection_dsr(returns, table["sharpe"].to_numpy(), swept.bars_per_year)
    out["best"] = {"row": best, "params": choice, "sharpe": float(table["sharpe"].iloc[best])}
    return out
