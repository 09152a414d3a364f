"""The protocol's decisions: account state in, decision (with its reasons) and state out.

The executor's risk gate and the portfolio backtester call the same functions:

- ``start_state(config, equity, now)`` once;
- ``observe(config, state, equity, now)`` whenever the account is marked (each bar close in
  a backtest, each tick in the executor): drawdown stages, capital preservation, tier
  changes, as ``ProtocolEvent``s with their alert levels;
- ``record_close(config, state, trade, timeframe)`` when a position closes: the tier's
  record, the losing streaks, the locks, the adaptive record (``rules``), with the
  ``streak_phase`` and ``lock`` events it raised (``record_trade``: the tier's record only);
- ``review(config, state, equity, now, by)`` for the operator's command (or the backtest's
  automatic review);
- ``decide_entry(config, state, account, instance, request)`` for every entry intent.

**How multipliers combine** (the documented rule): each rule contributes at most one
multiplier - the drawdown rule the strictest of its current stage and its resume size (a
deeper stage replaces the shallower ones), the strategy its ``size_fraction``, the losing
streak the stricter of the instance's and the account's phase, the win-rate cut
(``low_win``), the extreme-volatility cut and the win-rate boost (``high_win``). The streak
and the win-rate cut read the same losses, so the stricter of the two applies, not their
product; the boost applies only when no rule cuts (drawdown, streak, win rate, volatility
all 1). The size is ``min(method size, tier cap) x drawdown x strategy x min(streak,
low_win) x volatility x boost``, never above the tier cap, then capped by the instance's
free capital, the allocation limits and the cash. One trigger therefore never counts
twice. Every decision carries ``Reasons``: tier, stage, each multiplier, the caps that
bound it and the rule that refused it.

Refusals besides the tiers' and the drawdown's: ``lock`` (a protection's lock on the
symbol or the instance), ``streak_demoted`` / ``streak_score`` (the streak phases),
``kelly_no_edge`` (with ``kelly.no_edge: refuse``), ``correlation`` (``correlation.check``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from trading_core.config_portfolio import ProtocolConfig, RiskSettings
from trading_core.protocol import allocation, correlation, drawdown, rules, sizing, tiers
from trading_core.protocol.trades import ClosedTrade


@dataclass(frozen=True)
class ProtocolState:
    tier: tiers.TierState
    drawdown: drawdown.DrawdownState
    rules: rules.RulesState = field(default_factory=rules.RulesState)


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
    positions: Mapping[str, str] = field(default_factory=dict)  # open position key -> symbol
    closes: Mapping[str, correlation.Closes] = field(default_factory=dict)  # per symbol


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
    now: datetime | None = None  # the decision's instant (the locks)
    score: float | None = None  # the setup's composite score (the streak phases)
    volatility: float | None = None  # adaptive.volatility_percentile of the symbol


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
    return ProtocolState(tier, dd, state.rules), events


def record_trade(config: ProtocolConfig, state: ProtocolState, pnl: float) -> ProtocolState:
    return replace(state, tier=tiers.record_trade(state.tier, pnl, config.promotion))


def record_close(
    config: ProtocolConfig, state: ProtocolState, trade: ClosedTrade, timeframe: str
) -> tuple[ProtocolState, list[ProtocolEvent]]:
    """A position closed: every record it feeds, and the events (``streak_phase``,
    ``lock``) it raised, stamped with the close."""
    tier = tiers.record_trade(state.tier, trade.pnl, config.promotion)
    record, raised = rules.on_close(config, state.rules, trade, timeframe)
    events = [
        ProtocolEvent(trade.closed_at, e.kind, e.instance, e.detail, _level(e)) for e in raised
    ]
    return ProtocolState(tier, state.drawdown, record), events


def _level(event: rules.RuleEvent) -> str | None:
    """A demotion to paper is an alert (CRITICAL); the other rule events are records."""
    if event.kind == "streak_phase" and event.detail.get("to") == "demoted":
        return "CRITICAL"
    return None


def review_instance(
    state: ProtocolState, instance: str, now: datetime
) -> tuple[ProtocolState, ProtocolEvent | None]:
    """The operator's review of an instance: its losing-streak record (a demotion) ends."""
    record, event = rules.review_instance(state.rules, instance)
    if event is None:
        return state, None
    reviewed = ProtocolEvent(now, event.kind, event.instance, event.detail)
    return replace(state, rules=record), reviewed


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
    verdict = rules.entry_rules(
        config,
        state.rules,
        instance=instance.id,
        symbol=request.symbol,
        now=request.now,
        score=request.score,
        volatility=request.volatility,
        kelly_sizing=instance.risk.sizing == "kelly",
    )
    multipliers.update(verdict.multipliers)
    combined, boosted = combine(multipliers)
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
    if verdict.refused_by is not None:
        return _refused(reasons, verdict.refused_by, verdict.detail)
    if account.positions:
        corr = correlation.check(
            request.symbol, account.positions, account.closes, config.correlation
        )
        if corr.refused:
            return _refused(reasons, "correlation", corr.detail)
    if instance.equity <= 0 or account.equity <= 0:
        return _refused(reasons, "no_capital", "the instance or the account has no equity")
    stop = sizing.stop_for(
        request.price, instance.risk, strategy_stop=request.strategy_stop, atr=request.atr
    )
    reasons = replace(reasons, stop_source=stop.source)
    caps: list[str] = []
    notes = list(verdict.notes)
    kelly = verdict.kelly
    if kelly is not None and kelly.fraction is not None and kelly.fraction > 0:
        wanted = kelly.fraction * instance.equity
        notes.append(f"kelly {kelly.fraction:.4f}: {kelly.detail}")
    else:
        wanted = sizing.raw_notional(instance.risk, tier, instance.equity, stop)
        if kelly is not None and kelly.fraction is None:
            notes.append(f"kelly not yet ({kelly.detail}): risk-based")
    cap = sizing.tier_cap(tier, account.equity)
    cap_rule = f"tier {state.tier.number} max position {tier.max_position:.0%}"
    if wanted > cap:
        wanted = cap
        caps.append(cap_rule)
    notional = wanted * combined
    if boosted and notional > cap:
        notional = cap
        if cap_rule not in caps:
            caps.append(cap_rule)
    if notes:
        reasons = replace(reasons, detail="; ".join(notes))
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


CUTS: tuple[str, ...] = ("drawdown", "streak", "low_win", "volatility")


def combine(multipliers: Mapping[str, float]) -> tuple[float, bool]:
    """The documented rule: ``drawdown x strategy x min(streak, low_win) x volatility``,
    times the ``high_win`` boost only when none of the cuts is below 1. Also whether the
    boost applied."""
    m = {"streak": 1.0, "low_win": 1.0, "volatility": 1.0, "high_win": 1.0, **multipliers}
    combined = m["drawdown"] * m["strategy"] * min(m["streak"], m["low_win"]) * m["volatility"]
    boosted = m["high_win"] > 1.0 and all(m[k] >= 1.0 for k in CUTS)
    return (combined * m["high_win"] if boosted else combined), boosted
