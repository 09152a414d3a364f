"""The strategy registry: names -> classes, and the one constructor everyone uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trading_core.strategies.arbitrage import ArbitrageStrategy
from trading_core.strategies.base import Strategy, StrategyError
from trading_core.strategies.composite import CompositeStrategy
from trading_core.strategies.grid import GridStrategy
from trading_core.strategies.macd import MacdStrategy
from trading_core.strategies.scalping import ScalpingStrategy
from trading_core.strategies.swing import SwingStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (
        MacdStrategy,
        GridStrategy,
        SwingStrategy,
        CompositeStrategy,
        ScalpingStrategy,
        ArbitrageStrategy,
    )
}


def get_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """A strategy by registry name with validated parameters (errors name what is allowed)."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise StrategyError(f"unknown strategy {name!r}; allowed: {sorted(STRATEGIES)}") from None
    return cls(params)
