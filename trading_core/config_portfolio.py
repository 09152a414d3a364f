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

The profiles and the protocol's settings (``ProtocolConfig``, the blueprint's defaults) live
in ``config_protocol``; every number is checked: errors name the field and what is allowed.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trading_core.config_protocol import (
    RISK_PROFILES,
    AllocationConfig,
    DrawdownStageConfig,
    PreservationConfig,
    PromotionConfig,
    ProtocolConfig,
    RiskSettings,
    TagLimit,
    TierConfig,
)
from trading_core.timeframes import TIMEFRAME_SECONDS

# The protocol's models live in config_protocol; imported from here too.
__all__ = [
    "DEFAULT_INSTANCE",
    "LIVE_BAR_COLUMNS",
    "MANUAL_INSTANCE",
    "RISK_PROFILES",
    "AllocationConfig",
    "DrawdownStageConfig",
    "InstanceConfig",
    "PreservationConfig",
    "PromotionConfig",
    "ProtocolConfig",
    "RiskSettings",
    "StrategyInstances",
    "TagLimit",
    "TierConfig",
    "default_instance",
    "instances_of",
    "live_refusal",
]

RiskProfileName = Literal["low", "medium", "high"]

# The implicit instance of intents that name none (manual intents, `trading intents submit`).
MANUAL_INSTANCE = "manual"
DEFAULT_INSTANCE = "default"
# Columns every live bar has (``fct_signals``): a strategy needing others cannot run live.
LIVE_BAR_COLUMNS: tuple[str, ...] = ("ts", "open", "high", "low", "close", "volume")
_INSTANCE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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


class StrategyInstances(
    RootModel[Annotated[list[InstanceConfig], AfterValidator(_instances)] | None]
):
    """The ``strategies:`` list (a root model, so the configuration stays a set of sections);
    None: no list, today's settings make the one instance ``default``."""

    model_config = ConfigDict(frozen=True)
    root: Annotated[list[InstanceConfig], AfterValidator(_instances)] | None = None


def default_instance(strategy: Any, risk: Any, market: Any) -> InstanceConfig:
    """The one instance ``default`` that today's single-strategy settings describe:
    ``StrategyConfig`` (name, params, timeframe), ``RiskConfig`` (stops, position fraction)
    and ``MarketConfig`` (first exchange, every symbol). Fixed-fraction sizing with the
    configured fraction keeps today's live behaviour; the whole account is its allocation."""
    from pydantic import ValidationError

    try:
        return _default_instance(strategy, risk, market)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'instance'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()
        )
        raise ValueError(
            f"the instance 'default' made of strategy.name (env TRADING_STRATEGY) "
            f"{strategy.name!r} is refused: {problems}"
        ) from None


def _default_instance(strategy: Any, risk: Any, market: Any) -> InstanceConfig:
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
    listed = config.strategies.root
    if listed is None:
        return [default_instance(config.strategy, config.risk, config.market)]
    return [item for item in listed if item.enabled]
