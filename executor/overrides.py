"""Operator overrides the executor keeps between ticks: a risk scale, a symbol blacklist and
paused strategy instances (``trading control set-risk | blacklist | unblacklist |
pause-instance | resume-instance``).

- **set-risk** scales the risk per trade the risk protocol sizes entries with (``--scale``,
  a multiple of the capital tier's ``risk_per_trade``) or sets it (``--risk-per-trade``, a
  fraction of equity, turned into a scale of the tier's each time an entry is sized). Never
  above the tier's limit (scale 1.0) unless ``overrides.allow_above_tier``, and then at most
  ``overrides.max_scale``; a scale above 1 is applied only to a decision no cap bounded (the
  tier's max position, the instance's capital, the allocation and the cash stay hard).
  ``--clear`` ends it. The risk protocol must be on (a ``strategies:`` list): without it
  there are no tiers and no risk per trade.
- **blacklist SYMBOL**: no new entries in the symbol (its working entries are canceled);
  open positions keep their protective exits and can be closed.
- **pause-instance ID**: no new entries for that instance (its working entries canceled).

Each may be timed (``until``): an override past its time no longer counts. The state is one
JSON document in the ledger (``Ledger.operator_overrides``); ``apply`` is pure: state,
command and context in, the new state and the command's result out. A command the state
refuses (a duplicate, an unknown symbol, an expired time) changes nothing and says why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from executor.override_checks import (
    OverrideError,
    check_risk_per_trade,
    check_scale,
    finite,
    parse_duration,
    parse_until,
)

__all__ = [
    "STATE_COMMANDS",
    "Context",
    "Hold",
    "Outcome",
    "OverrideError",
    "Overrides",
    "RiskOverride",
    "apply",
    "check_risk_per_trade",
    "check_scale",
    "check_until",
    "entry_refusal",
    "parse_duration",
    "parse_until",
    "project",
    "risk_scale",
]  # fmt: skip

STATE_COMMANDS: tuple[str, ...] = (
    "set-risk", "blacklist", "unblacklist", "pause-instance", "resume-instance"
)  # fmt: skip


@dataclass(frozen=True)
class Hold:
    """Who set an override, when, why, by which command, and until when (None: until
    lifted)."""

    since: datetime
    by: str
    why: str
    command: int
    until: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.until is not None and now >= self.until

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "by": self.by,
            "why": self.why,
            "command": self.command,
            "until": self.until.isoformat() if self.until else None,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Hold:
        until = raw.get("until")
        return cls(
            datetime.fromisoformat(raw["since"]),
            str(raw["by"]),
            str(raw["why"]),
            int(raw["command"]),
            datetime.fromisoformat(until) if until else None,
        )


@dataclass(frozen=True)
class RiskOverride:
    """A scale of the tier's risk per trade, or a risk per trade of its own."""

    hold: Hold
    scale: float | None = None
    risk_per_trade: float | None = None

    def scale_for(self, tier_risk_per_trade: float) -> float:
        if self.scale is not None:
            return self.scale
        assert self.risk_per_trade is not None
        return self.risk_per_trade / tier_risk_per_trade

    def describe(self) -> str:
        if self.scale is not None:
            return f"x{self.scale:g} of the tier's risk per trade"
        return f"risk per trade {self.risk_per_trade:.4%}"


@dataclass(frozen=True)
class Overrides:
    risk: RiskOverride | None = None
    blacklist: Mapping[str, Hold] = field(default_factory=dict)
    paused: Mapping[str, Hold] = field(default_factory=dict)

    def active(self, now: datetime) -> Overrides:
        """Without the overrides whose time is up."""
        risk = self.risk if self.risk and not self.risk.hold.expired(now) else None
        return Overrides(
            risk,
            {s: h for s, h in self.blacklist.items() if not h.expired(now)},
            {i: h for i, h in self.paused.items() if not h.expired(now)},
        )

    def to_json(self) -> str:
        risk = None
        if self.risk is not None:
            risk = {
                **self.risk.hold.to_dict(),
                "scale": self.risk.scale,
                "risk_per_trade": self.risk.risk_per_trade,
            }
        return json.dumps(
            {
                "risk": risk,
                "blacklist": {s: h.to_dict() for s, h in sorted(self.blacklist.items())},
                "paused_instances": {i: h.to_dict() for i, h in sorted(self.paused.items())},
            },
            sort_keys=True,
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str | None) -> Overrides:
        """The stored document (None: no overrides); ``OverrideError`` naming a broken one."""
        if text is None:
            return cls()
        try:
            raw = json.loads(text)
            risk = raw.get("risk")
            stored_risk = None
            if risk is not None:
                scale, rpt = risk.get("scale"), risk.get("risk_per_trade")
                stored_risk = RiskOverride(
                    Hold.from_dict(risk),
                    None if scale is None else finite("scale", scale),
                    None if rpt is None else finite("risk_per_trade", rpt),
                )
            return cls(
                stored_risk,
                {str(s): Hold.from_dict(h) for s, h in raw.get("blacklist", {}).items()},
                {str(i): Hold.from_dict(h) for i, h in raw.get("paused_instances", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise OverrideError(
                f"ledger_meta operator_overrides is not an overrides document: {exc!r}"
            ) from exc

    def summary(self, now: datetime) -> dict[str, Any]:
        """What is in force now, for ``trading control status`` and the bot."""
        summary: dict[str, Any] = json.loads(self.active(now).to_json())
        return summary


@dataclass(frozen=True)
class Context:
    """What a command is checked against when it is issued and again when applied."""

    now: datetime
    symbols: frozenset[str]  # the traded symbols (market.symbols)
    instances: frozenset[str]  # the configured instance ids
    tier: int | None = None  # 1-based; None: the risk protocol is off
    tier_risk_per_trade: float | None = None
    scale_cap: float = 1.0  # overrides.scale_cap
    max_duration: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class Outcome:
    state: Overrides
    result: str
    applied: bool
    cancel_symbol: str | None = None  # cancel this symbol's working entries
    cancel_instance: str | None = None  # cancel this instance's working entries


# ------------------------------------------------------------------------ validation


def check_until(until: datetime | None, ctx: Context) -> datetime | None:
    if until is None:
        return None
    if until <= ctx.now:
        raise OverrideError(
            f"until {until.isoformat()} is not in the future (now {ctx.now.isoformat()}): "
            "the override would already be over"
        )
    if until - ctx.now > ctx.max_duration:
        hours = ctx.max_duration.total_seconds() / 3600
        raise OverrideError(
            f"until {until.isoformat()} is more than overrides.max_duration_hours {hours:g} away"
        )
    return until


def _until_of(args: Mapping[str, Any]) -> datetime | None:
    value = args.get("until")
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise OverrideError(f"until must be an ISO date-time, got {value!r}") from None


def _refused(state: Overrides, why: str) -> Outcome:
    return Outcome(state, f"refused: {why}", applied=False)


def _until_text(until: datetime | None) -> str:
    return f" until {until.isoformat()}Z" if until else ""


# ------------------------------------------------------------------------------ apply


def apply(
    state: Overrides,
    command: str,
    symbol: str | None,
    args: Mapping[str, Any],
    hold: Hold,
    ctx: Context,
) -> Outcome:
    """The state after one operator command, and its result (pure)."""
    state = state.active(ctx.now)
    try:
        until = _until_of(args)
    except OverrideError as exc:
        return _refused(state, str(exc))
    if until is not None and until <= ctx.now:
        return _refused(
            state, f"expired before it was applied (until {until.isoformat()}Z); nothing changed"
        )
    hold = replace(hold, until=until)
    try:
        if command == "set-risk":
            return _set_risk(state, args, hold, ctx)
        if command in ("blacklist", "unblacklist"):
            return _blacklist(state, command, symbol or "", hold, ctx)
        if command in ("pause-instance", "resume-instance"):
            return _pause(state, command, str(args.get("instance", "")), hold, ctx)
    except OverrideError as exc:
        return _refused(state, str(exc))
    return _refused(state, f"{command!r} is not an override; allowed: {list(STATE_COMMANDS)}")


def _set_risk(state: Overrides, args: Mapping[str, Any], hold: Hold, ctx: Context) -> Outcome:
    if ctx.tier is None or ctx.tier_risk_per_trade is None:
        raise OverrideError(
            "the risk protocol is off (no strategies: list in the config): there is no tier "
            "risk per trade to scale"
        )
    tier = f"tier {ctx.tier}'s {ctx.tier_risk_per_trade:.2%}"
    if args.get("clear"):
        if state.risk is None:
            raise OverrideError("no set-risk override is in force; nothing to clear")
        return Outcome(replace(state, risk=None), f"risk per trade back to {tier}", True)
    scale, rpt = args.get("scale"), args.get("risk_per_trade")
    if (scale is None) == (rpt is None):
        raise OverrideError("set-risk takes one of scale, risk_per_trade or clear")
    if scale is not None:
        risk = RiskOverride(hold, scale=check_scale(scale, ctx.scale_cap))
    else:
        value = check_risk_per_trade(rpt, ctx.tier_risk_per_trade, ctx.scale_cap, ctx.tier)
        risk = RiskOverride(hold, risk_per_trade=value)
    current = state.risk
    if current is not None and (current.scale, current.risk_per_trade, current.hold.until) == (
        risk.scale,
        risk.risk_per_trade,
        risk.hold.until,
    ):
        raise OverrideError(
            f"already in force: {current.describe()} (command {current.hold.command})"
        )
    effective = risk.scale_for(ctx.tier_risk_per_trade) * ctx.tier_risk_per_trade
    return Outcome(
        replace(state, risk=risk),
        f"{risk.describe()}: {effective:.4%} per trade now ({tier}){_until_text(hold.until)}",
        True,
    )


def _blacklist(state: Overrides, command: str, symbol: str, hold: Hold, ctx: Context) -> Outcome:
    listed = dict(state.blacklist)
    if command == "unblacklist":
        if symbol not in listed:
            raise OverrideError(f"{symbol} is not blacklisted; blacklisted: {sorted(listed)}")
        del listed[symbol]
        return Outcome(replace(state, blacklist=listed), f"{symbol}: entries allowed again", True)
    if symbol in listed:
        old = listed[symbol]
        raise OverrideError(
            f"{symbol} is already blacklisted (command {old.command} by {old.by}"
            f"{_until_text(old.until)})"
        )
    if symbol not in ctx.symbols:
        raise OverrideError(f"unknown symbol {symbol!r}; traded: {sorted(ctx.symbols)}")
    listed[symbol] = hold
    return Outcome(
        replace(state, blacklist=listed),
        f"{symbol} blacklisted: no new entries{_until_text(hold.until)}; exits keep working",
        True,
        cancel_symbol=symbol,
    )


def _pause(state: Overrides, command: str, instance: str, hold: Hold, ctx: Context) -> Outcome:
    paused = dict(state.paused)
    if command == "resume-instance":
        if instance not in paused:
            raise OverrideError(f"instance {instance!r} is not paused; paused: {sorted(paused)}")
        del paused[instance]
        return Outcome(replace(state, paused=paused), f"instance {instance}: entries again", True)
    if instance not in ctx.instances:
        raise OverrideError(f"unknown instance {instance!r}; configured: {sorted(ctx.instances)}")
    if instance in paused:
        old = paused[instance]
        raise OverrideError(
            f"instance {instance} is already paused (command {old.command} by {old.by})"
        )
    paused[instance] = hold
    return Outcome(
        replace(state, paused=paused),
        f"instance {instance} paused: no new entries{_until_text(hold.until)}; exits keep working",
        True,
        cancel_instance=instance,
    )


def project(state: Overrides, pending: Iterable[tuple[str, str | None, Mapping[str, Any], Hold]],
            ctx: Context) -> Overrides:  # fmt: skip
    """The state once the pending commands are applied (what a new command meets)."""
    for command, symbol, args, hold in pending:
        if command in STATE_COMMANDS:
            state = apply(state, command, symbol, args, hold, ctx).state
    return state


# ---------------------------------------------------------------------------- entries


def entry_refusal(state: Overrides, symbol: str, instance: str, now: datetime) -> str | None:
    """Why an entry in ``symbol`` for ``instance`` is refused now (None: it is not)."""
    live = state.active(now)
    if symbol in live.blacklist:
        hold = live.blacklist[symbol]
        return (
            f"operator blacklist: {symbol} by {hold.by} (command {hold.command}: {hold.why})"
            f"{_until_text(hold.until)}"
        )
    if instance in live.paused:
        hold = live.paused[instance]
        return (
            f"operator pause-instance: {instance} by {hold.by} (command {hold.command}: "
            f"{hold.why}){_until_text(hold.until)}"
        )
    return None


def risk_scale(
    state: Overrides, now: datetime, tier_risk_per_trade: float, cap: float
) -> tuple[float, dict[str, Any]] | None:
    """The scale set-risk puts on an entry's size now, never above ``cap`` (None: none)."""
    risk = state.active(now).risk
    if risk is None:
        return None
    wanted = risk.scale_for(tier_risk_per_trade)
    scale = min(wanted, cap)
    detail = {
        "scale": scale,
        "asked": wanted,
        "command": risk.hold.command,
        "by": risk.hold.by,
        "why": risk.hold.why,
    }
    return scale, detail
