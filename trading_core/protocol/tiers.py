"""Capital tiers: which limits the account's equity earns, and when it changes tier.

A tier is chosen by account equity (``TierConfig.floor``, the first tier from 0, so an
account below $500 is in tier 1 too). The starting tier is the one the starting equity
reaches. Afterwards:

- **Promotion** (one tier at a time) needs the next tier's floor *and* the performance of
  the trades closed in the current tier: win rate strictly above ``min_win_rate`` and profit
  factor strictly above ``min_profit_factor`` over the last ``window_trades`` of them, the
  tier's maximum drawdown (from its own equity peak) strictly below ``max_tier_drawdown``,
  and at least ``min_trades`` trades in the tier.
- **Demotion** when equity falls ``demotion_below_floor`` below the current tier's floor
  (20 %: tier 2, floor $2k, demotes below $1.6k), straight to the tier the equity reaches.

A change starts the new tier's record afresh. Pure: state in, state out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from trading_core.config_portfolio import PromotionConfig, ProtocolConfig, TierConfig


@dataclass(frozen=True)
class TierState:
    index: int  # 0-based into ProtocolConfig.tiers; reported as index + 1
    trades: int = 0  # trades closed in this tier
    recent_pnl: tuple[float, ...] = ()  # P&L of the last window_trades of them
    peak: float = 0.0  # equity peak inside this tier
    max_drawdown: float = 0.0  # deepest fall from that peak, a fraction >= 0

    @property
    def number(self) -> int:
        return self.index + 1


@dataclass(frozen=True)
class TierChange:
    from_tier: int  # 1-based
    to_tier: int
    reason: str


def _equity(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"equity must be a finite number, got {value!r}")
    return float(value)


def tier_index_for(equity: float, tiers: Sequence[TierConfig]) -> int:
    """The highest tier whose floor ``equity`` reaches (tier 0 below every floor)."""
    value = _equity(equity)
    index = 0
    for i, tier in enumerate(tiers):
        if value >= tier.floor:
            index = i
    return index


def initial_tier(equity: float, tiers: Sequence[TierConfig]) -> TierState:
    value = _equity(equity)
    return TierState(index=tier_index_for(value, tiers), peak=value)


def record_trade(state: TierState, pnl: float, promotion: PromotionConfig) -> TierState:
    """A trade closed in the current tier with net ``pnl``."""
    if not isinstance(pnl, int | float) or not math.isfinite(pnl):
        raise ValueError(f"pnl must be a finite number, got {pnl!r}")
    recent = (*state.recent_pnl, float(pnl))[-promotion.window_trades :]
    return replace(state, trades=state.trades + 1, recent_pnl=recent)


def observe_equity(state: TierState, equity: float) -> TierState:
    value = _equity(equity)
    peak = max(state.peak, value)
    fall = 1.0 - value / peak if peak > 0 else 0.0
    if peak == state.peak and fall <= state.max_drawdown:
        return state  # the common case, without a copy
    return replace(state, peak=peak, max_drawdown=max(state.max_drawdown, fall))


def win_rate(pnl: Sequence[float]) -> float:
    return sum(1 for p in pnl if p > 0) / len(pnl) if pnl else math.nan


def profit_factor(pnl: Sequence[float]) -> float:
    gains = sum(p for p in pnl if p > 0)
    losses = -sum(p for p in pnl if p < 0)
    if losses > 0:
        return gains / losses
    return math.inf if gains > 0 else math.nan


def promotion_blockers(state: TierState, equity: float, config: ProtocolConfig) -> list[str]:
    """Why the account is not promoted now (empty: it is). Names each unmet rule."""
    tiers, rules = config.tiers, config.promotion
    if state.index + 1 >= len(tiers):
        return ["already in the highest tier"]
    blockers = []
    floor = tiers[state.index + 1].floor
    if _equity(equity) < floor:
        blockers.append(f"equity {equity:.2f} below the next tier's floor {floor:g}")
    if state.trades < rules.min_trades:
        blockers.append(f"{state.trades} trades in the tier, need {rules.min_trades}")
    rate = win_rate(state.recent_pnl)
    if not rate > rules.min_win_rate:
        blockers.append(f"win rate {rate:.3f} not above {rules.min_win_rate}")
    factor = profit_factor(state.recent_pnl)
    if not factor > rules.min_profit_factor:
        blockers.append(f"profit factor {factor:.3f} not above {rules.min_profit_factor}")
    if not state.max_drawdown < rules.max_tier_drawdown:
        blockers.append(
            f"drawdown in the tier {state.max_drawdown:.3f} not below {rules.max_tier_drawdown}"
        )
    return blockers


def review_tier(
    state: TierState, equity: float, config: ProtocolConfig
) -> tuple[TierState, TierChange | None]:
    """Demote or promote on ``equity`` (after ``observe_equity``); the change, if any."""
    value = _equity(equity)
    tiers = config.tiers
    floor = tiers[state.index].floor
    if state.index > 0 and value < floor * (1.0 - config.demotion_below_floor):
        target = min(tier_index_for(value, tiers), state.index - 1)
        reason = (
            f"equity {value:.2f} fell more than {config.demotion_below_floor:.0%} below the "
            f"tier {state.number} floor {floor:g}"
        )
        return TierState(index=target, peak=value), TierChange(state.number, target + 1, reason)
    # The cheap conditions first: the full check runs only when they hold.
    promotable = (
        state.index + 1 < len(tiers)
        and value >= tiers[state.index + 1].floor
        and state.trades >= config.promotion.min_trades
    )
    if promotable and not promotion_blockers(state, value, config):
        rules = config.promotion
        reason = (
            f"equity {value:.2f} reached the tier {state.number + 1} floor "
            f"{tiers[state.index + 1].floor:g} with win rate {win_rate(state.recent_pnl):.3f}, "
            f"profit factor {profit_factor(state.recent_pnl):.3f}, tier drawdown "
            f"{state.max_drawdown:.3f} over {state.trades} trades (>= {rules.min_trades})"
        )
        new = TierState(index=state.index + 1, peak=value)
        return new, TierChange(state.number, new.number, reason)
    return state, None
