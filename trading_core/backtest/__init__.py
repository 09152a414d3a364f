"""Research: the backtester, metrics, sweeps, walk-forward, Monte Carlo, multi-scope runs.

``optimise`` (optuna) and ``plots`` (matplotlib) are imported from their modules when needed,
so importing this package stays light.
"""

from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.data import (
    DataError,
    infer_bars_per_year,
    parse_ohlcv,
    read_ohlcv_csv,
    window,
)
from trading_core.backtest.engine import run_backtest
from trading_core.backtest.monte_carlo import MonteCarloResult, monte_carlo
from trading_core.backtest.multi_scope import csv_loader, multi_scope
from trading_core.backtest.result import SUMMARY_METRICS, TRADE_COLUMNS, BacktestResult, trade_hash
from trading_core.backtest.sweep import (
    SWEEP_METRICS,
    macd_grid,
    sweep_macd,
    sweep_signals,
    sweep_strategy,
)
from trading_core.backtest.walk_forward import (
    WalkForwardConfig,
    WalkForwardResult,
    fold_windows,
    walk_forward,
)

__all__ = [
    "SUMMARY_METRICS",
    "SWEEP_METRICS",
    "TRADE_COLUMNS",
    "BacktestConfig",
    "BacktestResult",
    "DataError",
    "MonteCarloResult",
    "WalkForwardConfig",
    "WalkForwardResult",
    "csv_loader",
    "fold_windows",
    "infer_bars_per_year",
    "macd_grid",
    "monte_carlo",
    "multi_scope",
    "parse_ohlcv",
    "read_ohlcv_csv",
    "run_backtest",
    "sweep_macd",
    "sweep_signals",
    "sweep_strategy",
    "trade_hash",
    "walk_forward",
    "window",
]
