"""Losing streaks, per instance and for the account (``ProtocolConfig.streaks``).

A trade is a loss when its net P&L is below zero (a break-even trade is not a loss and
ends a run of consecutive losses). Phases, from the record of closed trades:

=========  =====================================================  ==========  ==========
phase      when                                                   size        entries
=========  =====================================================  ==========  ==========
normal     otherwise                                              x 1         any
caution    ``caution_losses`` (5) consecutive losses              x 0.5       score > 0.6
severe     ``severe_losses`` (8) of the last ``severe_window``    x 0.25      score > 0.8
           (10) trades
demoted    an instance's ``demote_losses`` (10) consecutive       -           none (paper)
           losses; lasts until the instance is reviewed
=========  =====================================================  ==========  ==========

The account's phase (all instances' trades) never demotes; an entry takes the stricter of
its instance's phase and the account's: one multiplier, never their product (the same
losses would count twice). ``score`` is the entry's composite score; an entry without one
passes at the phase's size (``unscored_entries: refuse`` refuses it instead: only a win
ends a phase, so a strategy that gives no score would then never trade again).

Pure: state in, state out; a phase change is a ``PhaseChange`` (the ``streak_phase``
event).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from trading_core.config_protocol import StreaksConfig

ACCOUNT = "account"
PHASES: tuple[str, ...] = ("normal", "caution", "severe", "demoted")


@dataclass(frozen=True)
class StreakState:
    consecutive: int = 0  # losses in a row, the last trade included
    recent: tuple[bool, ...] = ()  # loss flags of the last severe_window trades
    phase: str = "normal"


@dataclass(frozen=True)
class PhaseChange:
    scope: str  # ACCOUNT or an instance id
    before: str
    after: str
    detail: dict[str, Any]


def phase_for(state: StreakState, config: StreaksConfig, *, instance: bool) -> str:
    """The phase the record ``state`` calls for (a demotion sticks until a review)."""
    if state.phase == "demoted":
        return "demoted"
    if instance and state.consecutive >= config.demote_losses:
        return "demoted"
    if sum(state.recent) >= config.severe_losses:
        return "severe"
    if state.consecutive >= config.caution_losses:
        return "caution"
    return "normal"


def record(
    state: StreakState, pnl: float, config: StreaksConfig, *, scope: str
) -> tuple[StreakState, PhaseChange | None]:
    """The record after one more closed trade, and the phase change it made, if any."""
    loss = pnl < 0
    new = StreakState(
        consecutive=state.consecutive + 1 if loss else 0,
        recent=(*state.recent, loss)[-config.severe_window :],
        phase=state.phase,
    )
    phase = phase_for(new, config, instance=scope != ACCOUNT)
    new = replace(new, phase=phase)
    if phase == state.phase:
        return new, None
    return new, PhaseChange(scope, state.phase, phase, describe(new, config))


def describe(state: StreakState, config: StreaksConfig) -> dict[str, Any]:
    settings = settings_of(state.phase, config)
    return {
        "phase": state.phase,
        "consecutive_losses": state.consecutive,
        "losses_in_window": sum(state.recent),
        "window": config.severe_window,
        "size_multiplier": settings[0],
        "min_score": settings[1],
    }


def settings_of(phase: str, config: StreaksConfig) -> tuple[float, float | None]:
    """(size multiplier, minimum composite score or None) of a phase."""
    if phase == "caution":
        return config.caution.size_multiplier, config.caution.min_score
    if phase in ("severe", "demoted"):
        return config.severe.size_multiplier, config.severe.min_score
    return 1.0, None


def strictest(*phases: str) -> str:
    return max(phases, key=PHASES.index)


def review(state: StreakState) -> StreakState:
    """An instance reviewed (the operator's ``review``): its record starts afresh."""
    return StreakState()


@dataclass(frozen=True)
class StreakVerdict:
    phase: str
    multiplier: float
    refusal: str | None  # the rule that refused: streak_demoted / streak_score
    detail: str


def check_entry(
    instance_phase: str, account_phase: str, score: float | None, config: StreaksConfig
) -> StreakVerdict:
    """What the streak phases allow an entry with composite ``score``."""
    if not config.enabled:
        return StreakVerdict("normal", 1.0, None, "")
    if instance_phase == "demoted":
        return StreakVerdict(
            "demoted", 0.0, "streak_demoted", "the instance is demoted to paper until reviewed"
        )
    phase = strictest(instance_phase, account_phase)
    multiplier, min_score = settings_of(phase, config)
    if min_score is None:
        return StreakVerdict(phase, multiplier, None, "")
    if score is None:
        if config.unscored_entries == "allow":
            return StreakVerdict(phase, multiplier, None, "no composite score (allowed)")
        return StreakVerdict(
            phase,
            multiplier,
            "streak_score",
            f"{phase} phase needs a composite score above {min_score:g}; the entry has none",
        )
    if not score > min_score:
        return StreakVerdict(
            phase,
            multiplier,
            "streak_score",
            f"{phase} phase needs a composite score above {min_score:g}, got {score:g}",
        )
    return StreakVerdict(phase, multiplier, None, f"score {score:g} above {min_score:g}")
