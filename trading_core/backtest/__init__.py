"""Research: the backtester, metrics, sweeps, walk-forward, Monte Carlo, multi-scope runs.

The names below are imported from their modules on first use (PEP 562), so importing one
module of the package - ``backtest.config`` for the CLI's flags, ``backtest.sweep`` for a
sweep - does not import the engine, walk-forward, Monte Carlo and the rest: the command line
starts faster. ``optimise`` (optuna) and ``plots`` (matplotlib) are imported from their
modules when needed.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from trading_core.lazy_exports import lazy_exports

if TYPE_CHECKING:  # the same names, for type checkers and readers
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
    from trading_core.backtest.result import (
        SUMMARY_METRICS,
        TRADE_COLUMNS,
        BacktestResult,
        trade_hash,
    )
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

# public name -> the module (under trading_core.backtest) that defines it
_MODULE_OF: dict[str, str] = {
    "BacktestConfig": "config",
    "DataError": "data",
    "infer_bars_per_year": "data",
    "parse_ohlcv": "data",
    "read_ohlcv_csv": "data",
    "window": "data",
    "run_backtest": "engine",
    "MonteCarloResult": "monte_carlo",
    "monte_carlo": "monte_carlo",
    "csv_loader": "multi_scope",
    "multi_scope": "multi_scope",
    "SUMMARY_METRICS": "result",
    "TRADE_COLUMNS": "result",
    "BacktestResult": "result",
    "trade_hash": "result",
    "SWEEP_METRICS": "sweep",
    "macd_grid": "sweep",
    "sweep_macd": "sweep",
    "sweep_signals": "sweep",
    "sweep_strategy": "sweep",
    "WalkForwardConfig": "walk_forward",
    "WalkForwardResult": "walk_forward",
    "fold_windows": "walk_forward",
    "walk_forward": "walk_forward",
}

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

# functions named like the module that defines them: the package's attribute is the function
# (as when this file imported them eagerly), even after the import system binds the module
_SHADOWED = frozenset(name for name, module in _MODULE_OF.items() if name == module)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _MODULE_OF)


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
