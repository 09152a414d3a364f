"""The live strategy and its pre-trade risk settings, from configuration."""

from __future__ import annotations

from typing import Any

import dagster as dg

from trading_core.config import RiskConfig, StrategyConfig


class StrategyResource(dg.ConfigurableResource):
    """Which strategy evaluates new bars, with which parameters, and how intents are sized."""

    name: str
    timeframe: str
    params: dict[str, Any]
    lookback_bars: int
    position_fraction: float
    stop_loss_pct: float
    take_profit_pct: float
    trailing_stop_pct: float | None
    quote_currency: str
    starting_cash: float
    # The `strategies:` list (InstanceConfig dumps, enabled ones); empty: the single strategy
    # above is the one instance `default` (assets/strategy.py evaluates every instance).
    instances: list[dict[str, Any]] = []
    # With instances: the `protocol:` and `fees:` sections (research runs the portfolio
    # backtest with them, as `trading backtest --config` does).
    protocol: dict[str, Any] = {}
    fees: dict[str, Any] = {}

    @classmethod
    def from_config(
        cls,
        strategy: StrategyConfig,
        risk: RiskConfig,
        quote: str,
        starting_cash: float,
        instances: list[Any] | None = None,
        protocol: Any = None,
        fees: Any = None,
    ) -> StrategyResource:
        return cls(
            instances=[i.model_dump() for i in instances or []],
            protocol=protocol.model_dump(mode="json") if protocol is not None else {},
            fees=fees.model_dump(mode="json") if fees is not None else {},
            name=strategy.name,
            timeframe=strategy.timeframe,
            params=dict(strategy.params),
            lookback_bars=strategy.lookback_bars,
            position_fraction=risk.position_fraction,
            stop_loss_pct=risk.stop_loss_pct,
            take_profit_pct=risk.take_profit_pct,
            trailing_stop_pct=risk.trailing_stop_pct,
            quote_currency=quote,
            starting_cash=starting_cash,
        )

    def build(self):
        """The strategy object (parameters validated; errors name the field)."""
        from trading_core.strategies import get_strategy

        return get_strategy(self.name, dict(self.params))
