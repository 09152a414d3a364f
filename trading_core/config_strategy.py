"""The ``strategy`` and ``risk`` sections: what is traded, on which bars, within which limits.

The strategy's name and parameters are checked by the strategy's own parameter model (the
strategies are imported on use: they load numba). The risk limits are those of the default
strategy instance (``trading_core.config_portfolio``).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from trading_core.config_base import SectionModel, check_timeframe

# Parameters of a strategy whose configuration gives none (others: the strategy's defaults).
DEFAULT_STRATEGY_PARAMS: dict[str, dict[str, Any]] = {"macd": {"fast": 5, "slow": 13, "signal": 4}}


def _non_finite(value: Any, where: str) -> str | None:
    """The first NaN or infinity in a (nested) parameter value, named, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} must be a finite number (got {value!r})"
    if isinstance(value, dict):
        items: Any = ((f"{where}.{k}", v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    return next((bad for key, v in items if (bad := _non_finite(v, key))), None)


class StrategyConfig(SectionModel):
    name: str = "macd"
    timeframe: str = "1m"
    # Validated by the strategy's own parameter model. Omitted: DEFAULT_STRATEGY_PARAMS of
    # the strategy, else the strategy's own defaults.
    params: dict[str, Any] = Field(default_factory=dict)
    # Bars of history handed to the strategy at each live evaluation.
    lookback_bars: int = Field(default=300, ge=10)

    @model_validator(mode="before")
    @classmethod
    def _default_params(cls, data: Any) -> Any:
        if isinstance(data, dict) and "params" not in data:
            name = data.get("name", cls.model_fields["name"].default)
            return {**data, "params": DEFAULT_STRATEGY_PARAMS.get(name, {})}
        return data

    @field_validator("name")
    @classmethod
    def _registered(cls, value: str) -> str:
        from trading_core.strategies import STRATEGIES  # imported on use: it loads numba

        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; allowed: {sorted(STRATEGIES)}")
        return value

    _timeframe = field_validator("timeframe")(check_timeframe)

    @field_validator("params")
    @classmethod
    def _valid_for_strategy(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from trading_core.strategies import StrategyError, get_strategy

        for key, item in value.items():
            if bad := _non_finite(item, key):
                raise ValueError(bad)
        name = info.data.get("name")
        if name is None:  # the name itself is invalid and reported
            return value
        try:
            get_strategy(name, value)
        except StrategyError as exc:  # one line: "invalid parameters for ...: a: ...; b: ..."
            head, *problems = (line.strip() for line in str(exc).splitlines())
            raise ValueError(f"{head} {'; '.join(problems)}".strip()) from None
        return value


class RiskConfig(SectionModel):
    position_fraction: float = Field(default=0.2, gt=0, le=1)
    stop_loss_pct: float = Field(default=0.02, gt=0, lt=1)
    take_profit_pct: float = Field(default=0.04, gt=0)
    trailing_stop_pct: float | None = Field(default=None, gt=0, lt=1)
    max_open_positions: int = Field(default=3, ge=1)
    max_trades_per_day: int = Field(default=50, ge=1)
    max_drawdown_pct: float = Field(default=0.2, gt=0, lt=1)
    min_notional: float = Field(default=5.0, ge=0)
    max_notional: float = Field(default=1000.0, gt=0)
    blacklist: list[str] = Field(default_factory=list)

    @field_validator("max_notional")
    @classmethod
    def _above_min_notional(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("min_notional")
        if low is not None and value < low:
            raise ValueError(
                f"{value} is below min_notional ({low}); allowed: max_notional >= min_notional"
            )
        return value
