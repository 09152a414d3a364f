"""The record issue 13's rules keep, and what a closed trade does to it.

``RulesState`` holds the losing streaks (the account's and each instance's), the running
locks, each instance's recent closed trades (for Kelly, the win-rate adjustments and the
protections' lookbacks) and the instances whose low-win-rate cut is latched. ``on_close``
is called once per closed position (``gate.record_close``); ``entry_rules`` answers what
they say about an entry (``gate.decide_entry`` combines it). Serialisable for the
executor's ledger (``to_dict`` / ``from_dict``). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from trading_core.config_protocol import ProtocolConfig
from trading_core.protocol import adaptive, protections, streaks
from trading_core.protocol.streaks import ACCOUNT, PhaseChange, StreakState
from trading_core.protocol.trades import ClosedTrade


@dataclass(frozen=True)
class RulesState:
    account: StreakState = field(default_factory=StreakState)
    instances: Mapping[str, StreakState] = field(default_factory=dict)
    locks: tuple[protections.Lock, ...] = ()
    history: Mapping[str, tuple[ClosedTrade, ...]] = field(default_factory=dict)
    low_win: frozenset[str] = frozenset()
    realized: float = 0.0  # the account's realized P&L over the closed trades
    realized_peak: float = 0.0  # its highest value so far

    def streak(self, instance: str) -> StreakState:
        return self.instances.get(instance, StreakState())

    def pnl(self, instance: str) -> list[float]:
        return [t.pnl for t in self.history.get(instance, ())]

    # -- storage (the executor's ledger) -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def streak(s: StreakState) -> dict[str, Any]:
            return {"consecutive": s.consecutive, "recent": list(s.recent), "phase": s.phase}

        return {
            "account": streak(self.account),
            "instances": {k: streak(v) for k, v in sorted(self.instances.items())},
            "locks": [lock.to_dict() for lock in self.locks],
            "history": {k: [t.to_dict() for t in v] for k, v in sorted(self.history.items())},
            "low_win": sorted(self.low_win),
            "realized": self.realized,
            "realized_peak": self.realized_peak,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RulesState:
        def streak(s: Mapping[str, Any]) -> StreakState:
            phase = str(s.get("phase", "normal"))
            if phase not in streaks.PHASES:
                raise ValueError(f"streak phase {phase!r}; allowed: {list(streaks.PHASES)}")
            return StreakState(
                int(s.get("consecutive", 0)), tuple(bool(x) for x in s.get("recent", ())), phase
            )

        return cls(
            streak(raw.get("account", {})),
            {str(k): streak(v) for k, v in dict(raw.get("instances", {})).items()},
            tuple(protections.Lock.from_dict(x) for x in raw.get("locks", ())),
            {
                str(k): tuple(ClosedTrade.from_dict(t) for t in v)
                for k, v in dict(raw.get("history", {})).items()
            },
            frozenset(str(x) for x in raw.get("low_win", ())),
            float(raw.get("realized", 0.0)),
            float(raw.get("realized_peak", 0.0)),
        )


@dataclass(frozen=True)
class RuleEvent:
    kind: str  # streak_phase | lock
    instance: str | None
    detail: dict[str, Any]


def _keep(config: ProtocolConfig) -> int:
    a = config.adaptive
    return max(a.kelly.window, a.low_win_window, a.high_win_window, 1)


def _phase_event(change: PhaseChange) -> RuleEvent:
    scope = "account" if change.scope == ACCOUNT else "instance"
    detail = {"scope": scope, "from": change.before, "to": change.after, **change.detail}
    return RuleEvent("streak_phase", None if change.scope == ACCOUNT else change.scope, detail)


def on_close(
    config: ProtocolConfig, state: RulesState, trade: ClosedTrade, timeframe: str
) -> tuple[RulesState, list[RuleEvent]]:
    """The record after ``trade`` closed (the instance's ``timeframe`` rounds its locks)."""
    events: list[RuleEvent] = []
    account, instances = state.account, dict(state.instances)
    if config.streaks.enabled:
        account, change = streaks.record(state.account, trade.pnl, config.streaks, scope=ACCOUNT)
        mine, mine_change = streaks.record(
            state.streak(trade.instance), trade.pnl, config.streaks, scope=trade.instance
        )
        instances[trade.instance] = mine
        events += [_phase_event(c) for c in (mine_change, change) if c is not None]
    # The instance's history: enough trades for the windows, and the lookbacks' span.
    horizon = trade.closed_at - timedelta(seconds=protections.lookback_seconds(config.protections))
    past = (*state.history.get(trade.instance, ()), trade)
    keep = _keep(config)
    past = tuple(t for i, t in enumerate(past) if i >= len(past) - keep or t.closed_at >= horizon)
    history = {**state.history, trade.instance: past}
    locks = protections.active(state.locks, trade.closed_at)
    for lock in protections.on_close(trade, past, config.protections, timeframe):
        locks.append(lock)
        detail = {**lock.to_dict(), "until": lock.until.isoformat() + "Z"}
        detail["trigger"] = {"symbol": trade.symbol, "exit_reason": trade.exit_reason}
        events.append(RuleEvent("lock", trade.instance, detail))
    # "Back to normal on a new equity high": the account's closed-trade equity (realized
    # P&L) reaching a new high lifts every latched cut - measured at the closes, which both
    # engines record alike (their marks of open positions come at different moments).
    realized = state.realized + trade.pnl
    low_win = set(state.low_win)
    if realized > state.realized_peak + 1e-12:
        low_win.clear()
    else:
        pnl = [t.pnl for t in past]
        if config.adaptive.enabled and adaptive.low_win_triggered(pnl, config.adaptive):
            low_win.add(trade.instance)
    new = RulesState(
        account,
        instances,
        tuple(locks),
        history,
        frozenset(low_win),
        realized,
        max(state.realized_peak, realized),
    )
    return new, events


def review_instance(state: RulesState, instance: str) -> tuple[RulesState, RuleEvent | None]:
    """The operator reviewed ``instance``: its streak record starts afresh (a demotion ends)."""
    before = state.streak(instance)
    if before == StreakState():
        return state, None
    instances = {**state.instances, instance: streaks.review(before)}
    event = RuleEvent(
        "streak_phase",
        instance,
        {"scope": "instance", "from": before.phase, "to": "normal", "reviewed": True},
    )
    return replace(state, instances=instances), event


@dataclass(frozen=True)
class EntryRules:
    """What the rules say about an entry: multipliers, or the rule that refuses it."""

    multipliers: dict[str, float]
    refused_by: str | None = None
    detail: str = ""
    phase: str = "normal"
    kelly: adaptive.Kelly | None = None
    notes: tuple[str, ...] = ()


def entry_rules(
    config: ProtocolConfig,
    state: RulesState,
    *,
    instance: str,
    symbol: str,
    now: datetime | None,
    score: float | None,
    volatility: float | None,
    kelly_sizing: bool,
) -> EntryRules:
    notes: list[str] = []
    if now is not None:
        lock = protections.blocking(state.locks, instance, symbol, now)
        if lock is not None:
            return EntryRules(
                {}, "lock", f"{lock.rule}: {lock.reason}; until {lock.until.isoformat()}Z"
            )
    verdict = streaks.check_entry(
        state.streak(instance).phase, state.account.phase, score, config.streaks
    )
    if verdict.refusal is not None:
        return EntryRules({}, verdict.refusal, verdict.detail, verdict.phase)
    if verdict.detail:
        notes.append(verdict.detail)
    a = config.adaptive
    pnl = state.pnl(instance)
    low = a.low_win_multiplier if a.enabled and instance in state.low_win else 1.0
    extreme = a.enabled and adaptive.extreme_volatility(volatility, a)
    vol = a.volatility_multiplier if extreme else 1.0
    high = a.high_win_multiplier if a.enabled and adaptive.high_win_triggered(pnl, a) else 1.0
    kelly = adaptive.kelly(pnl, a.kelly) if kelly_sizing else None
    if kelly is not None and kelly.fraction is not None and kelly.fraction <= 0:
        if a.kelly.no_edge == "refuse":
            return EntryRules({}, "kelly_no_edge", kelly.detail, verdict.phase, kelly)
        notes.append(f"kelly: no edge ({kelly.detail}): risk-based")
    multipliers = {
        "streak": verdict.multiplier,
        "low_win": low,
        "volatility": vol,
        "high_win": high,
    }
    return EntryRules(multipliers, None, "", verdict.phase, kelly, tuple(notes))
