"""The risk protocol's stage and the operator overrides in force, as data and in words.

The protocol (``executor.protocol_gate.StoredProtocol``, saved in the ledger by the
executor) is on when the configuration has a ``strategies:`` list: its capital tier, its
drawdown stage (or capital preservation and its cooldown), the losing-streak phases of the
account and of each instance, and the locks of the protection rules. The overrides
(``executor.overrides.Overrides``) are the risk scale, the blacklist and the paused
instances an operator set, each with who, why and until when. Pure functions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from executor.overrides import Hold, Overrides
from executor.protocol_gate import StoredProtocol
from trading_core.config import TradingConfig


def _at(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def _tier_text(number: int, config: TradingConfig) -> str:
    tiers = config.protocol.tiers
    tier = tiers[number - 1]
    return f"tier {number} of {len(tiers)} ({tier.risk_per_trade:.2%} risk per trade)"


def protocol_stage(
    config: TradingConfig, stored_text: str | None, equity: float | None, now: datetime
) -> dict[str, Any]:
    """The protocol's stage: ``on``, ``started``, ``tier`` (1-based), ``tier_text``, the
    drawdown, the streak phases, the active locks, and ``words`` (sentences for a page)."""
    if config.strategies.root is None:
        return {
            "on": False,
            "started": False,
            "tier": None,
            "tier_text": "—",
            "words": ["Risk protocol off: no strategies: list in the configuration."],
        }
    tiers = config.protocol.tiers
    if stored_text is None:
        return {
            "on": True,
            "started": False,
            "tier": 1,
            "tier_text": _tier_text(1, config),
            "words": [
                f"Risk protocol on, not started yet: {_tier_text(1, config)} until "
                "the executor's first tick with it."
            ],
        }
    try:
        stored = StoredProtocol.from_json(stored_text)
    except ValueError as exc:
        return {
            "on": True,
            "started": False,
            "tier": None,
            "tier_text": "unreadable",
            "error": str(exc),
            "words": [f"Risk protocol state unreadable: {exc}"],
        }
    state = stored.state
    number = min(max(state.tier.index, 0), len(tiers) - 1) + 1
    dd = state.drawdown
    stages = config.protocol.drawdown_stages
    below = None
    if equity is not None and dd.peak > 0:
        below = max(0.0, 1 - equity / dd.peak)
    where = (
        f"equity {below:.2%} below the peak {dd.peak:,.2f}"
        if below is not None
        else (f"peak {dd.peak:,.2f}")
    )
    if dd.preserving:
        stage = (
            f"capital preservation since {_at(dd.preservation_since)} ({where}); "
            f"an operator review can end it from {_at(dd.cooldown_until)}"
        )
    elif 0 < dd.stage <= len(stages):
        s = stages[dd.stage - 1]
        stage = (
            f"drawdown stage {dd.stage} of {len(stages)} (from {s.pct:g} % below the "
            f"peak, {s.level}, size x{s.size_multiplier:g}; {where})"
        )
    else:
        stage = f"above every drawdown stage ({where})"
    if dd.resume_multiplier < 1 and not dd.preserving:
        stage += f"; sizes at x{dd.resume_multiplier:g} since the review"
    account = state.rules.account
    streaks = {
        i: {"phase": s.phase, "consecutive": s.consecutive}
        for i, s in sorted(state.rules.instances.items())
    }
    streak = f"Losing streak: account {account.phase} ({account.consecutive} loss(es) in a row)"
    odd = [
        f"{i} {s['phase']} ({s['consecutive']})"
        for i, s in streaks.items()
        if s["phase"] != "normal"
    ]
    if odd:
        streak += "; instances: " + ", ".join(odd)
    locks = [lock for lock in state.rules.locks if now < lock.until]
    lock_words = [
        f"{lock.instance} {lock.symbol or 'every symbol'} locked until {_at(lock.until)} "
        f"({lock.rule}: {lock.reason})"
        for lock in locks
    ]
    words = [
        f"Risk protocol: {_tier_text(number, config)}; {stage}.",
        f"{streak}.",
        *(f"Lock: {w}." for w in lock_words),
    ]
    return {
        "on": True,
        "started": True,
        "tier": number,
        "tier_text": _tier_text(number, config),
        "drawdown": {
            "stage": dd.stage,
            "peak": dd.peak,
            "below_peak": below,
            "preservation_since": dd.preservation_since,
            "cooldown_until": dd.cooldown_until,
            "resume_multiplier": dd.resume_multiplier,
        },
        "streak": {
            "account": {"phase": account.phase, "consecutive": account.consecutive},
            "instances": streaks,
        },
        "locks": [lock.to_dict() for lock in locks],
        "words": words,
    }


def _hold_text(hold: Hold) -> str:
    until = f" until {_at(hold.until)}" if hold.until else " until lifted"
    return f"by {hold.by} (command {hold.command}: {hold.why}){until}"


def override_words(overrides: Overrides, now: datetime) -> list[str]:
    """One sentence per override in force now (none: an empty list)."""
    live = overrides.active(now)
    words = []
    if live.risk is not None:
        words.append(f"Risk: {live.risk.describe()}, {_hold_text(live.risk.hold)}.")
    words += [f"Blacklisted {s}: {_hold_text(h)}." for s, h in sorted(live.blacklist.items())]
    words += [f"Paused instance {i}: {_hold_text(h)}." for i, h in sorted(live.paused.items())]
    return words
