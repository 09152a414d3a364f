"""Strategy instances and the risk protocol: the ``strategies:`` and ``protocol:`` sections.

An instance is one strategy with its parameters on one exchange, one or more symbols and one
timeframe, a risk profile and a share (``allocation``) of the account's capital. Without a
``strategies:`` list, today's single-strategy variables define one instance ``default``
(``default_instance``). Intents that name no instance belong to the implicit ``manual``
instance, so that id is reserved.

Risk profiles are documented default sets (``RISK_PROFILES``) that an instance overrides
field by field under ``risk:``:

========================  =============  ==============  ==============
field                     low            medium          high
========================  =============  ==============  ==============
sizing                    risk_based     risk_based      fixed_fraction
risk_scale (x tier risk)  0.5            1.0             1.0
position_fraction         0.10           0.15            0.15
stop                      percent 2 %    ATR(14) x 2     percent 3 %
take_profit_pct           0.04           0.06            0.09
trailing_stop_pct         none           none            none
paused_from_stage         4              4               3 (the 15 % stage)
max_open_positions        1              2               3
========================  =============  ==============  ==============

The protocol's defaults are the users' blueprint (``ProtocolConfig``); every number is
configurable and checked: errors name the field and the allowed values.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trading_core.config_alerts import AlertLevel
from trading_core.timeframes import TIMEFRAME_SECONDS

RiskProfileName = Literal["low", "medium", "high"]
SizingMethod = Literal["fixed_fraction", "risk_based"]
StopSource = Literal["percent", "atr"]

# The implicit instance of intents that name none (manual intents, `trading intents submit`).
MANUAL_INSTANCE = "manual"
DEFAULT_INSTANCE = "default"
# Columns every live bar has (``fct_signals``): a strategy needing others cannot run live.
LIVE_BAR_COLUMNS: tuple[str, ...] = ("ts", "open", "high", "low", "close", "volume")
_INSTANCE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RiskSettings(_Model):
    """A risk profile resolved: what sizing, stops and pauses an instance uses."""

    sizing: SizingMethod
    risk_scale: float = Field(gt=0, le=1)
    position_fraction: float = Field(gt=0, le=1)
    stop: StopSource
    stop_loss_pct: float = Field(gt=0, lt=1)
    atr_period: int = Field(default=14, ge=2, le=500)
    atr_multiple: float = Field(default=2.0, gt=0, le=50)
    take_profit_pct: float | None = Field(default=None, gt=0)
    trailing_stop_pct: float | None = Field(default=None, gt=0, lt=1)
    paused_from_stage: int = Field(ge=1, le=4)
    max_open_positions: int = Field(ge=1, le=100)


RISK_PROFILES: dict[str, RiskSettings] = {
    "low": RiskSettings(
        sizing="risk_based",
        risk_scale=0.5,
        position_fraction=0.10,
        stop="percent",
        stop_loss_pct=0.02,
        take_profit_pct=0.04,
        paused_from_stage=4,
        max_open_positions=1,
    ),
    "medium": RiskSettings(
        sizing="risk_based",
        risk_scale=1.0,
        position_fraction=0.15,
        stop="atr",
        stop_loss_pct=0.03,
        atr_period=14,
        atr_multiple=2.0,
        take_profit_pct=0.06,
        paused_from_stage=4,
        max_open_positions=2,
    ),
    "high": RiskSettings(
        sizing="fixed_fraction",
        risk_scale=1.0,
        position_fraction=0.15,
        stop="percent",
        stop_loss_pct=0.03,
        take_profit_pct=0.09,
        paused_from_stage=3,
        max_open_positions=3,
    ),
}


def _symbols(value: list[str]) -> list[str]:
    bad = [s for s in value if s.count("/") != 1 or any(c in s for c in "|,[] ")]
    if bad:
        raise ValueError(f"symbols must look like BASE/QUOTE (e.g. BTC/USDT); got {bad}")
    repeated = sorted({s for s in value if value.count(s) > 1})
    if repeated:
        raise ValueError(f"duplicate entries {repeated}; list each one once")
    return value


def _finite_params(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number (got {value!r})")
    if isinstance(value, dict):
        for key, item in value.items():
            _finite_params(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _finite_params(item, f"{where}[{i}]")


def live_refusal(strategy: str) -> str | None:
    """Why ``strategy`` cannot run on live bars, or None when it can."""
    from trading_core.strategies import STRATEGIES  # imported on use: it loads numba

    missing = [c for c in STRATEGIES[strategy].required_columns if c not in LIVE_BAR_COLUMNS]
    if not missing:
        return None
    return (
        f"strategy {strategy!r} cannot run live: it needs columns {missing} that live bars "
        f"(fct_signals) do not have; allowed live columns: {list(LIVE_BAR_COLUMNS)}"
    )


class InstanceConfig(_Model):
    """One strategy instance of the portfolio."""

    id: str
    strategy: str
    params: dict[str, Any] = Field(default_factory=dict)
    exchange: str = "sim"
    symbols: Annotated[list[str], AfterValidator(_symbols)] = Field(min_length=1)
    timeframe: str
    risk_profile: RiskProfileName = "medium"
    # Field-by-field overrides of the profile's defaults (RiskSettings fields).
    risk: dict[str, Any] = Field(default_factory=dict)
    allocation: float = Field(gt=0, le=1)
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _INSTANCE_ID.match(value):
            raise ValueError(
                f"instance id {value!r}; allowed: 1-40 characters a-z, 0-9, '_' or '-', "
                "starting with a letter or digit"
            )
        if value == MANUAL_INSTANCE:
            raise ValueError(f"{value!r} is reserved for intents that name no instance")
        return value

    @field_validator("strategy")
    @classmethod
    def _registered_and_live(cls, value: str) -> str:
        from trading_core.strategies import STRATEGIES

        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; allowed: {sorted(STRATEGIES)}")
        refusal = live_refusal(value)
        if refusal:
            live = sorted(s for s in STRATEGIES if live_refusal(s) is None)
            raise ValueError(f"{refusal}; strategies that can: {live}")
        return value

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        if value not in TIMEFRAME_SECONDS:
            raise ValueError(f"unknown timeframe {value!r}; allowed: {list(TIMEFRAME_SECONDS)}")
        return value

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from trading_core.strategies import StrategyError, get_strategy

        _finite_params(value, "params")
        name = info.data.get("strategy")
        if name is None:
            return value
        try:
            get_strategy(name, value)
        except StrategyError as exc:
            head, *problems = (line.strip() for line in str(exc).splitlines())
            raise ValueError(f"{head} {'; '.join(problems)}".strip()) from None
        return value

    @field_validator("risk")
    @classmethod
    def _risk_overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(RiskSettings.model_fields))
        if unknown:
            raise ValueError(
                f"unknown risk setting(s) {unknown}; allowed: {list(RiskSettings.model_fields)}"
            )
        return value

    @model_validator(mode="after")
    def _risk_resolves(self) -> InstanceConfig:
        self.resolved_risk()  # a bad override fails here, naming its field
        return self

    def resolved_risk(self) -> RiskSettings:
        """The profile's defaults with this instance's ``risk:`` overrides applied."""
        base = RISK_PROFILES[self.risk_profile].model_dump()
        return RiskSettings.model_validate({**base, **self.risk})


def _instances(value: list[InstanceConfig]) -> list[InstanceConfig]:
    ids = [item.id for item in value]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"duplicate instance ids {repeated}; give each instance its own id")
    total = sum(item.allocation for item in value if item.enabled)
    if total > 1.0 + 1e-9:
        raise ValueError(
            f"allocations of the enabled instances sum to {total:.4g}; allowed: at most 1 "
            "(each is a share of the account's capital)"
        )
    return value


StrategyInstances = Annotated[list[InstanceConfig], AfterValidator(_instances)]


class TierConfig(_Model):
    """A capital tier: from ``floor`` (account equity, quote) up to the next tier's floor."""

    floor: float = Field(ge=0)
    risk_per_trade: float = Field(gt=0, le=0.2)
    max_position: float = Field(gt=0, le=1)
    max_positions: int = Field(ge=1, le=1000)


DEFAULT_TIERS: tuple[TierConfig, ...] = (
    TierConfig(floor=0, risk_per_trade=0.02, max_position=0.15, max_positions=3),
    TierConfig(floor=2_000, risk_per_trade=0.015, max_position=0.12, max_positions=4),
    TierConfig(floor=5_000, risk_per_trade=0.0125, max_position=0.10, max_positions=5),
    TierConfig(floor=10_000, risk_per_trade=0.01, max_position=0.08, max_positions=6),
)


class PromotionConfig(_Model):
    """What a promotion needs besides the equity: performance inside the current tier."""

    min_win_rate: float = Field(default=0.5, ge=0, lt=1)  # strictly above, last window_trades
    window_trades: int = Field(default=50, ge=1, le=100_000)
    min_profit_factor: float = Field(default=1.5, ge=0)  # strictly above
    max_tier_drawdown: float = Field(default=0.25, gt=0, le=1)  # strictly below
    min_trades: int = Field(default=100, ge=0, le=1_000_000)


class DrawdownStageConfig(_Model):
    """A stage from ``pct`` % below the equity peak: its alert level and size multiplier."""

    pct: float = Field(gt=0, lt=100)
    level: AlertLevel
    size_multiplier: float = Field(gt=0, le=1)


DEFAULT_STAGES: tuple[DrawdownStageConfig, ...] = (
    DrawdownStageConfig(pct=5, level="WARNING", size_multiplier=1.0),
    DrawdownStageConfig(pct=10, level="CRITICAL", size_multiplier=0.7),
    DrawdownStageConfig(pct=15, level="EMERGENCY", size_multiplier=0.5),
    DrawdownStageConfig(pct=20, level="EMERGENCY", size_multiplier=0.25),
)


class PreservationConfig(_Model):
    """Capital preservation, the last drawdown stage."""

    cooldown_hours: float = Field(default=48.0, gt=0, le=24 * 365)
    # Positions up more than this (a fraction of their entry value) stay open.
    keep_winners_above: float = Field(default=0.05, ge=0)
    resume_size: float = Field(default=0.25, gt=0, le=1)
    # After the review, each new equity high at least new_high_gain above the last step's
    # high raises the size multiplier by resume_step, up to 1.
    resume_step: float = Field(default=0.25, gt=0, le=1)
    new_high_gain: float = Field(default=0.02, ge=0, le=10)
    # Backtests have no operator: a review is made automatically when the cooldown ends.
    auto_review_in_backtest: bool = True


class TagLimit(_Model):
    assets: Annotated[list[str], Field(min_length=1)]
    max_fraction: float = Field(gt=0, le=1)


class AllocationConfig(_Model):
    """Caps on the account's exposure (fractions of account equity, summed over instances)."""

    assets: dict[str, float] = Field(default_factory=lambda: {"BTC": 0.40, "ETH": 0.30})
    tags: dict[str, TagLimit] = Field(default_factory=dict)

    @field_validator("assets")
    @classmethod
    def _fractions(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0 < v <= 1}
        if bad:
            raise ValueError(f"asset limits {bad}; allowed: fractions in (0, 1]")
        return value


def _stages(value: list[DrawdownStageConfig]) -> list[DrawdownStageConfig]:
    pcts = [s.pct for s in value]
    if pcts != sorted(pcts) or len(set(pcts)) != len(pcts):
        raise ValueError(f"stage pct {pcts}; allowed: strictly increasing percentages")
    mults = [s.size_multiplier for s in value]
    if any(b > a for a, b in itertools.pairwise(mults)):
        raise ValueError(f"size_multiplier {mults}; allowed: never rising with a deeper stage")
    return value


def _tiers(value: list[TierConfig]) -> list[TierConfig]:
    floors = [t.floor for t in value]
    if floors[0] != 0:
        raise ValueError(f"the first tier's floor is {floors[0]}; allowed: 0 (every equity)")
    if any(b <= a for a, b in itertools.pairwise(floors)):
        raise ValueError(f"tier floors {floors}; allowed: strictly increasing")
    return value


class ProtocolConfig(_Model):
    tiers: Annotated[list[TierConfig], AfterValidator(_tiers)] = Field(
        default_factory=lambda: list(DEFAULT_TIERS), min_length=1, max_length=20
    )
    promotion: PromotionConfig = PromotionConfig()
    # Demotion when equity falls this fraction below the current tier's floor.
    demotion_below_floor: float = Field(default=0.20, ge=0, lt=1)
    drawdown_stages: Annotated[list[DrawdownStageConfig], AfterValidator(_stages)] = Field(
        default_factory=lambda: list(DEFAULT_STAGES), min_length=1, max_length=10
    )
    preservation: PreservationConfig = PreservationConfig()
    allocation: AllocationConfig = AllocationConfig()
    min_notional: float = Field(default=5.0, ge=0)


def default_instance(strategy: Any, risk: Any, market: Any) -> InstanceConfig:
    """The one instance ``default`` that today's single-strategy settings describe:
    ``StrategyConfig`` (name, params, timeframe), ``RiskConfig`` (stops, position fraction)
    and ``MarketConfig`` (first exchange, every symbol). Fixed-fraction sizing with the
    configured fraction keeps today's live behaviour; the whole account is its allocation."""
    return InstanceConfig(
        id=DEFAULT_INSTANCE,
        strategy=strategy.name,
        params=dict(strategy.params),
        exchange=market.exchanges[0],
        symbols=list(market.symbols),
        timeframe=strategy.timeframe,
        risk_profile="medium",
        risk={
            "sizing": "fixed_fraction",
            "position_fraction": risk.position_fraction,
            "stop": "percent",
            "stop_loss_pct": risk.stop_loss_pct,
            "take_profit_pct": risk.take_profit_pct,
            "trailing_stop_pct": risk.trailing_stop_pct,
            "max_open_positions": risk.max_open_positions,
        },
        allocation=1.0,
    )


def instances_of(config: Any) -> list[InstanceConfig]:
    """The enabled instances of a ``TradingConfig``: its ``strategies:`` list, else
    ``default``."""
    if config.strategies is None:
        return [default_instance(config.strategy, config.risk, config.market)]
    return [item for item in config.strategies if item.enabled]
