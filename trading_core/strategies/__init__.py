"""Strategies: one interface (``Strategy``) for the backtester and for paper/live trading."""

from trading_core.strategies.arbitrage import ArbitrageParams, ArbitrageStrategy, spread_bars
from trading_core.strategies.base import (
    SIGNAL_COLUMNS,
    Decision,
    Strategy,
    StrategyError,
    StrategyParams,
    crossed_above,
)
from trading_core.strategies.composite import CompositeParams, CompositeStrategy
from trading_core.strategies.grid import GridParams, GridStrategy
from trading_core.strategies.macd import MacdParams, MacdStrategy
from trading_core.strategies.registry import STRATEGIES, get_strategy
from trading_core.strategies.scalping import ScalpingParams, ScalpingStrategy
from trading_core.strategies.swing import SwingParams, SwingStrategy

__all__ = [
    "SIGNAL_COLUMNS",
    "STRATEGIES",
    "ArbitrageParams",
    "ArbitrageStrategy",
    "CompositeParams",
    "CompositeStrategy",
    "Decision",
    "GridParams",
    "GridStrategy",
    "MacdParams",
    "MacdStrategy",
    "ScalpingParams",
    "ScalpingStrategy",
    "Strategy",
    "StrategyError",
    "StrategyParams",
    "SwingParams",
    "SwingStrategy",
    "crossed_above",
    "get_strategy",
    "spread_bars",
]
