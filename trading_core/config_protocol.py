"""The risk protocol's settings: the ``protocol:`` section of the trading configuration.

Defaults are the users' blueprint; every number is configurable and checked (errors name the
field and the allowed values):

- ``tiers``: capital tiers by account equity (floors $0, $2k, $5k, $10k; risk per trade 2 /
  1.5 / 1.25 / 1 %; max single position 15 / 12 / 10 / 8 %; max concurrent positions
  3 / 4 / 5 / 6), ``promotion`` (win rate > 50 % and profit factor > 1.5 over the last 50
  trades, drawdown in the tier < 25 %, at least 100 trades in the tier) and
  ``demotion_below_floor`` (20 %);
- ``drawdown_stages``: 5 % WARNING, 10 % CRITICAL x 0.7, 15 % EMERGENCY x 0.5 (high-risk
  instances paused), 20 % EMERGENCY capital preservation (``preservation``: 48 h cooldown,
  winners above 5 % kept, review, 25 % size restored stepwise on new highs);
- ``allocation``: caps per asset (BTC 40 %, ETH 30 %) and per tag;
- ``min_notional``: smaller entries are refused.

``RISK_PROFILES``: the instances' risk profiles (table in ``config_portfolio``).

The rules that apply them: ``trading_core.protocol``.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from trading_core.config_alerts import AlertLevel

SizingMethod = Literal["fixed_fraction", "risk_based"]
StopSource = Literal["percent", "atr"]


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
