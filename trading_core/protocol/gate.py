"""The protocol's decisions: account state in, decision (with its reasons) and state out.

The executor's risk gate and the portfolio backtester call the same functions:

- ``start_state(config, equity, now)`` once;
- ``observe(config, state, equity, now)`` whenever the account is marked (each bar close in
  a backtest, each tick in the executor): drawdown stages, capital preservation, tier
  changes, as ``ProtocolEvent``s with their alert levels;
- ``record_trade(config, state, pnl)`` when a position closes (the tier's record);
- ``review(config, state, equity, now, by)`` for the operator's command (or the backtest's
  automatic review);
- ``decide_entry(config, state, account, instance, request)`` for every entry intent.

**How multipliers combine** (the documented rule): each rule contributes at most one
multiplier - the drawdown rule the strictest of its current stage and its resume size (a
deeper stage replaces the shallower ones), the strategy its ``size_fraction`` - and the
final size is ``min(method size, tier cap) x product of the rules' multipliers``, then
capped by the instance's free capital, the allocation limits and the cash. One trigger
therefore never counts twice. Every decision carries ``Reasons``: tier, stage, each
multiplier, the caps that bound it and the rule that refused it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from trading_core.config_portfolio import ProtocolConfig, RiskSettings
from trading_core.protocol import allocation, drawdown, sizing, tiers


@dataclass(frozen=True)
class ProtocolState:
    tier: tiers.TierState
    drawdown: drawdown.DrawdownState


@dataclass(frozen=True)
class ProtocolEvent:
    ts: datetime
    kind: str
    instance: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)
    level: str | None = None

    def to_dict(self) -> dict[str, Any]:
        detail = dict(self.detail)
        if self.level is not None:
            detail["alert_level"] = self.level
        return {
            "ts": self.ts.isoformat() + "Z",
            "kind": self.kind,
            "instance": self.instance,
            "detail": detail,
        }


@dataclass(frozen=True)
class AccountView:
    equity: float
    cash: float
    open_positions: int
    exposure: Mapping[str, float]  # market value per base asset


@dataclass(frozen=True)
class InstanceView:
    id: str
    equity: float  # allocation x starting capital + the instance's P&L
    open_value: float  # market value of its open positions
    open_positions: int
    risk: RiskSettings


@dataclass(frozen=True)
class EntryRequest:
    symbol: str
    price: float
    strategy_stop: float | None = None
    atr: float | None = None
    size_fraction: float = 1.0


@dataclass(frozen=True)
class Reasons:
    tier: int
    stage: int
    multipliers: Mapping[str, float]
    size_multiplier: float
    caps: tuple[str, ...] = ()
    refused_by: str | None = None
    detail: str = ""
    stop_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "stage": self.stage,
            "multipliers": dict(self.multipliers),
            "size_multiplier": self.size_multiplier,
            "caps": list(self.caps),
            "refused_by": self.refused_by,
            "detail": self.detail,
            "stop_source": self.stop_source,
        }


@dataclass(frozen=True)
class EntryDecision:
    allowed: bool
    notional: float  # quote to commit (fee included), 0 when refused
    stop: sizing.Stop | None
    reasons: Reasons


def start_state(config: ProtocolConfig, equity: float, now: datetime) -> ProtocolState:
    del now  # the state starts timeless; kept for the executor's symmetric call
    return ProtocolState(tiers.initial_tier(equity, config.tiers), drawdown.start(equity))


def observe(
    config: ProtocolConfig, state: ProtocolState, equity: float, now: datetime
) -> tuple[ProtocolState, list[ProtocolEvent]]:
    dd, raised = drawdown.observe(state.drawdown, equity, now, config)
    events = [ProtocolEvent(now, e.kind, None, e.detail, e.level) for e in raised]
    tier = tiers.observe_equity(state.tier, equity)
    tier, change = tiers.review_tier(tier, equity, config)
    if change is not None:
        events.append(
            ProtocolEvent(
                now,
                "tier_change",
                None,
                {"from": change.from_tier, "to": change.to_tier, "reason": change.reason},
            )
        )
    if tier is state.tier and dd is state.drawdown:
        return state, events
    return ProtocolState(tier, dd), events


def record_trade(config: ProtocolConfig, state: ProtocolState, pnl: float) -> ProtocolState:
    return replace(state, tier=tiers.record_trade(state.tier, pnl, config.promotion))


def review(
    config: ProtocolConfig,
    state: ProtocolState,
    equity: float,
    now: datetime,
    by: drawdown.ReviewedBy = "operator",
) -> tuple[ProtocolState, ProtocolEvent]:
    dd, event = drawdown.review(state.drawdown, equity, now, config, by)
    return replace(state, drawdown=dd), ProtocolEvent(now, event.kind, None, event.detail)


def _refused(reasons: Reasons, rule: str, detail: str) -> EntryDecision:
    return EntryDecision(False, 0.0, None, replace(reasons, refused_by=rule, detail=detail))


def decide_entry(
    config: ProtocolConfig,
    state: ProtocolState,
    account: AccountView,
    instance: InstanceView,
    request: EntryRequest,
) -> EntryDecision:
    """Whether an entry may open, its size (quote, fee included) and stop, and why."""
    tier = config.tiers[state.tier.index]
    dd = state.drawdown
    multipliers = {
        "drawdown": drawdown.size_multiplier(dd, config),
        "strategy": min(max(request.size_fraction, 0.0), 1.0),
    }
    combined = 1.0
    for value in multipliers.values():
        combined *= value
    reasons = Reasons(state.tier.number, dd.stage, multipliers, combined)
    if dd.preserving:
        until = dd.cooldown_until.isoformat() + "Z" if dd.cooldown_until else "?"
        return _refused(reasons, "capital_preservation", f"no entries; cooldown until {until}")
    if drawdown.paused(dd, instance.risk.paused_from_stage):
        return _refused(
            reasons,
            "drawdown_pause",
            f"stage {dd.stage} pauses instances with paused_from_stage "
            f"{instance.risk.paused_from_stage}",
        )
    if account.open_positions >= tier.max_positions:
        return _refused(
            reasons,
            "tier_max_positions",
            f"{account.open_positions} open, tier {state.tier.number} allows {tier.max_positions}",
        )
    if instance.open_positions >= instance.risk.max_open_positions:
        return _refused(
            reasons,
            "instance_max_positions",
            f"{instance.open_positions} open, the instance allows "
            f"{instance.risk.max_open_positions}",
        )
    if instance.equity <= 0 or account.equity <= 0:
        return _refused(reasons, "no_capital", "the instance or the account has no equity")
    stop = sizing.stop_for(
        request.price, instance.risk, strategy_stop=request.strategy_stop, atr=request.atr
    )
    reasons = replace(reasons, stop_source=stop.source)
    wanted = sizing.raw_notional(instance.risk, tier, instance.equity, stop)
    caps: list[str] = []
    cap = sizing.tier_cap(tier, account.equity)
    if wanted > cap:
        wanted = cap
        caps.append(f"tier {state.tier.number} max position {tier.max_position:.0%}")
    notional = wanted * combined
    limits: list[tuple[str, float]] = [
        ("instance capital", max(0.0, instance.equity - instance.open_value)),
        ("cash", max(0.0, account.cash)),
    ]
    rooms = allocation.headrooms(
        request.symbol, account.exposure, account.equity, config.allocation
    )
    limits += [(room.rule, room.room) for room in rooms]
    binding = None
    for rule, room in limits:
        if notional > room:
            notional, binding = room, rule
            caps.append(rule)
    reasons = replace(reasons, caps=tuple(caps))
    if notional < max(config.min_notional, 1e-12):
        rule = binding or "min_notional"
        return _refused(
            reasons,
            rule,
            f"size {notional:.2f} below the minimum notional {config.min_notional:g}",
        )
    return EntryDecision(True, notional, stop, reasons)
