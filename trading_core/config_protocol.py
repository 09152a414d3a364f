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
- ``min_notional``: smaller entries are refused;
- ``streaks``, ``protections``, ``adaptive``, ``correlation``, ``exits``: losing streaks,
  freqtrade-style locks, Kelly sizing and its adjustments, the correlation limit and the
  richer exits (``config_protocol_rules``).

``RISK_PROFILES``: the instances' risk profiles (table in ``config_portfolio``).

The rules that apply them: ``trading_core.protocol``.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from trading_core.config_alerts import AlertLevel

SizingMethod = Literal["fixed_fraction", "risk_based", "kelly"]
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


# --------------------------------------------------------------- issue 13's rules


class StreakPhaseConfig(_Model):
    """A losing-streak phase: its size multiplier and the composite score an entry needs."""

    size_multiplier: float = Field(gt=0, le=1)
    min_score: float = Field(ge=-1, le=1)  # the entry's composite score must be above it


class StreaksConfig(_Model):
    """Losing streaks, per instance and for the account (``protocol.streaks``).

    ``caution`` after ``caution_losses`` consecutive losses, ``severe`` with
    ``severe_losses`` losses among the last ``severe_window`` trades, and an instance with
    ``demote_losses`` or more consecutive losses is demoted to paper until reviewed.
    """

    enabled: bool = True
    caution_losses: int = Field(default=5, ge=1, le=10_000)
    caution: StreakPhaseConfig = StreakPhaseConfig(size_multiplier=0.5, min_score=0.6)
    severe_losses: int = Field(default=8, ge=1, le=10_000)
    severe_window: int = Field(default=10, ge=1, le=10_000)
    severe: StreakPhaseConfig = StreakPhaseConfig(size_multiplier=0.25, min_score=0.8)
    demote_losses: int = Field(default=10, ge=1, le=10_000)
    # An entry without a composite score while a phase asks for one: allowed (at the
    # phase's size; refusing would leave a strategy without scores locked out for good, as
    # only a win ends a phase), or refused.
    unscored_entries: Literal["refuse", "allow"] = "allow"

    @model_validator(mode="after")
    def _ordered(self) -> StreaksConfig:
        if self.severe_losses > self.severe_window:
            raise ValueError(
                f"streaks.severe_losses {self.severe_losses} > severe_window "
                f"{self.severe_window}; allowed: severe_losses <= severe_window"
            )
        if self.severe.size_multiplier > self.caution.size_multiplier:
            raise ValueError("streaks.severe.size_multiplier must be <= caution's")
        return self


StopReason = Literal["stop_loss", "atr_stop", "trailing_stop", "time_stop"]
STOP_REASONS: tuple[StopReason, ...] = ("stop_loss", "atr_stop", "trailing_stop")


class CooldownConfig(_Model):
    """freqtrade's ``CooldownPeriod`` narrowed to stops: a symbol is locked for
    ``stop_duration`` minutes after a stop exit on it."""

    method: Literal["cooldown"] = "cooldown"
    stop_duration: float = Field(gt=0, le=525_600)  # minutes
    reasons: list[StopReason] = Field(default_factory=lambda: list(STOP_REASONS), min_length=1)


class StoplossGuardConfig(_Model):
    """freqtrade's ``StoplossGuard``: ``trade_limit`` stop exits within ``lookback_period``
    minutes lock the symbol (``only_per_pair``) or the whole instance."""

    method: Literal["stoploss_guard"] = "stoploss_guard"
    lookback_period: float = Field(gt=0, le=525_600)
    trade_limit: int = Field(ge=1, le=10_000)
    stop_duration: float = Field(gt=0, le=525_600)
    only_per_pair: bool = False
    required_profit: float = Field(default=0.0, ge=-1, le=10)  # a stop counts below it


class LowProfitConfig(_Model):
    """freqtrade's ``LowProfitPairs``: a symbol whose ``trade_limit`` or more trades within
    ``lookback_period`` minutes made less than ``required_profit`` (summed profit ratios) is
    locked for ``stop_duration`` minutes."""

    method: Literal["low_profit"] = "low_profit"
    lookback_period: float = Field(gt=0, le=525_600)
    trade_limit: int = Field(ge=1, le=10_000)
    stop_duration: float = Field(gt=0, le=525_600)
    required_profit: float = Field(default=0.0, ge=-1, le=10)


Protection = Annotated[
    CooldownConfig | StoplossGuardConfig | LowProfitConfig, Field(discriminator="method")
]


class ProtectionsConfig(_Model):
    """The locks (``protocol.protections.rules``, none by default, as in freqtrade); a lock
    ends on the first bar boundary of the instance's timeframe strictly after its end."""

    rules: list[Protection] = Field(default_factory=list, max_length=50)


class KellyConfig(_Model):
    """``sizing: kelly``: the Kelly fraction ``W - (1 - W) / R`` of the instance's last
    ``window`` trades times ``edge_factor``; risk-based sizing until ``min_trades`` (and,
    by ``no_edge``, without an edge)."""

    edge_factor: float = Field(default=0.5, ge=0.5, le=1.0)
    window: int = Field(default=50, ge=2, le=100_000)
    min_trades: int = Field(default=20, ge=2, le=100_000)
    # No edge (Kelly <= 0): size risk-based (the streak and win-rate cuts shrink it), or
    # refuse - which stops the instance for good, as only new trades could change its record.
    no_edge: Literal["risk_based", "refuse"] = "risk_based"


class AdaptiveConfig(_Model):
    """Size adjustments from the instance's record and the market's volatility."""

    enabled: bool = True
    kelly: KellyConfig = KellyConfig()
    low_win_rate: float = Field(default=0.45, ge=0, le=1)  # strictly below
    low_win_window: int = Field(default=20, ge=1, le=100_000)
    low_win_multiplier: float = Field(default=0.75, gt=0, le=1)
    high_win_rate: float = Field(default=0.65, ge=0, le=1)  # strictly above
    high_win_window: int = Field(default=50, ge=1, le=100_000)
    high_win_multiplier: float = Field(default=1.2, ge=1, le=3)
    # Extreme volatility: ATR(atr_period) / close above at least extreme_percentile of its
    # previous volatility_window values.
    atr_period: int = Field(default=14, ge=2, le=500)
    volatility_window: int = Field(default=100, ge=5, le=10_000)
    extreme_percentile: float = Field(default=0.95, gt=0, le=1)
    volatility_multiplier: float = Field(default=0.6, gt=0, le=1)


class CorrelationConfig(_Model):
    """At most ``max_correlated`` open positions whose return correlation (the last
    ``window`` returns at ``timeframe``) with each other is above ``threshold``."""

    enabled: bool = True
    max_correlated: int = Field(default=3, ge=1, le=1000)
    threshold: float = Field(default=0.8, gt=-1, lt=1)
    window: int = Field(default=30, ge=3, le=10_000)
    timeframe: str = "1d"

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        from trading_core.timeframes import TIMEFRAME_SECONDS

        if value not in TIMEFRAME_SECONDS:
            raise ValueError(f"correlation.timeframe {value!r}; allowed: {list(TIMEFRAME_SECONDS)}")
        return value


class TakeProfitTier(_Model):
    gain: float = Field(gt=0, le=100)  # above the entry price, a fraction
    fraction: float = Field(gt=0, le=1)  # of the position's entry quantity


DEFAULT_TAKE_PROFIT_TIERS: tuple[TakeProfitTier, ...] = (
    TakeProfitTier(gain=0.05, fraction=0.3),
    TakeProfitTier(gain=0.10, fraction=0.3),
    TakeProfitTier(gain=0.20, fraction=0.3),
)


class TieredTakeProfitConfig(_Model):
    """Partial take-profits; what the tiers leave (10 % by default) trails ``trailing_pct``
    below the highest price once the last tier has filled."""

    enabled: bool = False
    tiers: list[TakeProfitTier] = Field(
        default_factory=lambda: list(DEFAULT_TAKE_PROFIT_TIERS), min_length=1, max_length=3
    )
    trailing_pct: float = Field(default=0.05, gt=0, lt=1)

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, value: list[TakeProfitTier]) -> list[TakeProfitTier]:
        gains = [t.gain for t in value]
        if any(b <= a for a, b in itertools.pairwise(gains)):
            raise ValueError(f"take_profit tier gains {gains}; allowed: strictly increasing")
        total = sum(t.fraction for t in value)
        if total > 1 + 1e-9:
            raise ValueError(f"take_profit tier fractions sum to {total:g}; allowed: <= 1")
        return value


class TimeStopConfig(_Model):
    """Exit at a bar's close once ``hours`` have passed since the entry while the close is
    still within ``min_move`` (a fraction) of the entry price."""

    hours: float = Field(gt=0, le=24 * 3650)
    min_move: float = Field(gt=0, lt=10)


class ExitsConfig(_Model):
    take_profit: TieredTakeProfitConfig = TieredTakeProfitConfig()
    time_stop: TimeStopConfig | None = None
    # The exchange's minimum order in a backtest (the executor also applies the exchange's
    # own): a partial exit below it merges into the next one.
    min_exit_notional: float = Field(default=0.0, ge=0)
    min_exit_quantity: float = Field(default=0.0, ge=0)


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
    # Issue 13's rules (``config_protocol_rules``).
    streaks: StreaksConfig = StreaksConfig()
    protections: ProtectionsConfig = ProtectionsConfig()
    adaptive: AdaptiveConfig = AdaptiveConfig()
    correlation: CorrelationConfig = CorrelationConfig()
    exits: ExitsConfig = ExitsConfig()
