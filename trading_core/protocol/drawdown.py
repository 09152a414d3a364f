"""The drawdown protocol: stages below the account's equity peak, and capital preservation.

Defaults (``ProtocolConfig.drawdown_stages``, every number configurable):

=====  ======  ==========  =====================================================
stage  from    alert       effect
=====  ======  ==========  =====================================================
1      5 %     WARNING     alert only
2      10 %    CRITICAL    sizes x 0.7
3      15 %    EMERGENCY   sizes x 0.5; instances with ``paused_from_stage <= 3``
                           (the high-risk profile) take no entries
4      20 %    EMERGENCY   capital preservation
=====  ======  ==========  =====================================================

The deepest stage reached decides; its multiplier *replaces* the shallower ones (at 15 %
sizes are x 0.5, not x 0.7 x 0.5): one trigger never counts twice.

**Capital preservation** (the last stage): every position is closed except those up more
than ``keep_winners_above`` of their entry value; no entry for ``cooldown_hours``; entries
resume only after a review (``review``: the operator's command, or in a backtest the
automatic review when the cooldown ends, ``auto_review_in_backtest``). A review restarts
the protocol from the reviewed equity (the new peak; else the stage would trigger at once)
at ``resume_size`` (25 %); each new equity high at least ``new_high_gain`` above the last
step's high raises the size by ``resume_step`` until it is whole again.

Pure: state in, state out, events out. Times are naive UTC datetimes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from trading_core.config_portfolio import DrawdownStageConfig, ProtocolConfig

ReviewedBy = Literal["operator", "auto"]


@dataclass(frozen=True)
class DrawdownState:
    peak: float
    stage: int = 0  # 0: above every stage; k: the k-th stage (1-based) reached
    preservation_since: datetime | None = None
    cooldown_until: datetime | None = None
    resume_multiplier: float = 1.0
    step_high: float = 0.0

    @property
    def preserving(self) -> bool:
        return self.preservation_since is not None


@dataclass(frozen=True)
class DrawdownEvent:
    # drawdown_stage | capital_preservation_start | capital_preservation_end | size_restored
    kind: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    level: str | None = None  # alert level, when the event raises one


def drawdown_fraction(peak: float, equity: float) -> float:
    """``1 - equity / peak`` (0 at or above the peak), a fraction."""
    for name, value in (("peak", peak), ("equity", equity)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if peak <= 0:
        raise ValueError(f"peak must be > 0, got {peak}")
    return max(0.0, 1.0 - equity / peak)


def stage_for(drawdown: float, stages: list[DrawdownStageConfig]) -> int:
    """The deepest stage (1-based) whose ``pct`` the drawdown (a fraction) reaches, or 0."""
    pct = drawdown * 100.0
    return sum(1 for stage in stages if pct >= stage.pct - 1e-12)


def start(equity: float) -> DrawdownState:
    if not math.isfinite(equity) or equity <= 0:
        raise ValueError(f"equity must be a finite number > 0, got {equity!r}")
    return DrawdownState(peak=float(equity), step_high=float(equity))


def size_multiplier(state: DrawdownState, config: ProtocolConfig) -> float:
    """The drawdown rule's one multiplier: the strictest of its stage and its resume size."""
    stage = config.drawdown_stages[state.stage - 1].size_multiplier if state.stage else 1.0
    return min(stage, state.resume_multiplier)


def paused(state: DrawdownState, paused_from_stage: int) -> bool:
    return state.stage >= paused_from_stage


def observe(
    state: DrawdownState, equity: float, now: datetime, config: ProtocolConfig
) -> tuple[DrawdownState, list[DrawdownEvent]]:
    """The state after marking the account at ``equity``, and the events it raised."""
    stages = config.drawdown_stages
    if state.preserving:  # the stage is frozen until the review
        return state, []
    events: list[DrawdownEvent] = []
    peak = max(state.peak, equity)
    new = replace(state, peak=peak) if peak != state.peak else state
    if equity > state.peak and new.resume_multiplier < 1.0:
        gain = config.preservation.new_high_gain
        if equity >= new.step_high * (1.0 + gain):
            restored = min(1.0, new.resume_multiplier + config.preservation.resume_step)
            events.append(
                DrawdownEvent(
                    "size_restored",
                    {"from": new.resume_multiplier, "to": restored, "equity": equity},
                )
            )
            new = replace(new, resume_multiplier=restored, step_high=equity)
    drawdown = drawdown_fraction(peak, equity)
    stage = stage_for(drawdown, stages)
    if stage != state.stage:
        level = stages[stage - 1].level if stage > state.stage else None
        events.append(
            DrawdownEvent(
                "drawdown_stage",
                {
                    "from": state.stage,
                    "to": stage,
                    "drawdown": round(drawdown, 10),
                    "peak": peak,
                    "equity": equity,
                    "size_multiplier": stages[stage - 1].size_multiplier if stage else 1.0,
                },
                level,
            )
        )
        new = replace(new, stage=stage)
    if stage == len(stages):
        until = now + timedelta(hours=config.preservation.cooldown_hours)
        new = replace(new, preservation_since=now, cooldown_until=until)
        events.append(
            DrawdownEvent(
                "capital_preservation_start",
                {
                    "drawdown": round(drawdown, 10),
                    "peak": peak,
                    "equity": equity,
                    "cooldown_until": until.isoformat() + "Z",
                    "keep_winners_above": config.preservation.keep_winners_above,
                },
                stages[-1].level,
            )
        )
    return new, events


def auto_review_due(state: DrawdownState, now: datetime) -> bool:
    return state.cooldown_until is not None and now >= state.cooldown_until


def review(
    state: DrawdownState,
    equity: float,
    now: datetime,
    config: ProtocolConfig,
    by: ReviewedBy = "operator",
) -> tuple[DrawdownState, DrawdownEvent]:
    """End capital preservation after its cooldown; a ValueError saying why it cannot."""
    if not state.preserving or state.cooldown_until is None:
        raise ValueError("review: capital preservation is not active; nothing to review")
    if now < state.cooldown_until:
        raise ValueError(
            f"review: the cooldown runs until {state.cooldown_until.isoformat()}Z "
            f"(now {now.isoformat()}Z); allowed: a review after it"
        )
    if not math.isfinite(equity) or equity <= 0:
        raise ValueError(f"review: equity must be a finite number > 0, got {equity!r}")
    resume = config.preservation.resume_size
    new = DrawdownState(peak=equity, resume_multiplier=resume, step_high=equity)
    event = DrawdownEvent(
        "capital_preservation_end",
        {
            "reviewed_by": by,
            "since": state.preservation_since.isoformat() + "Z"
            if state.preservation_since
            else None,
            "equity": equity,
            "resume_size": resume,
        },
    )
    return new, event


def positions_to_close(unrealized_returns: Mapping[str, float], keep_above: float) -> list[str]:
    """Positions capital preservation closes: all but those up more than ``keep_above``."""
    return sorted(key for key, ret in unrealized_returns.items() if not ret > keep_above)
