"""The protocol's pure functions, directly: tiers, drawdown stages and review, sizing, caps."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from trading_core.config_portfolio import RISK_PROFILES, ProtocolConfig
from trading_core.protocol import (
    AccountView,
    EntryRequest,
    InstanceView,
    allocation,
    decide_entry,
    drawdown,
    observe,
    review,
    sizing,
    start_state,
    tiers,
)

P = ProtocolConfig()
NOW = datetime(2025, 1, 1)


def test_tier_by_equity_includes_below_the_first_floor() -> None:
    assert [tiers.tier_index_for(e, P.tiers) for e in (0, 300, 1999.99, 2000, 7000, 1e9)] == [
        0,
        0,
        0,
        1,
        2,
        3,
    ]


@pytest.mark.parametrize("bad", [math.nan, math.inf, "100", None, True])
def test_tier_functions_refuse_non_numbers(bad: object) -> None:
    with pytest.raises(ValueError, match="equity"):
        tiers.tier_index_for(bad, P.tiers)  # type: ignore[arg-type]


def test_promotion_needs_every_rule_and_names_the_missing_ones() -> None:
    state = tiers.initial_tier(1900, P.tiers)
    blockers = tiers.promotion_blockers(state, 2100, P)
    assert any("0 trades in the tier, need 100" in b for b in blockers)
    assert any("win rate" in b for b in blockers)
    for pnl in [10.0] * 60 + [-1.0] * 40:
        state = tiers.record_trade(state, pnl, P.promotion)
    assert state.trades == 100 and len(state.recent_pnl) == 50  # window: the last 50
    # last 50: 10 wins of 10, 40 losses of 1 -> win rate 0.2: blocked
    assert any("win rate 0.200" in b for b in tiers.promotion_blockers(state, 2100, P))
    for pnl in [5.0] * 50:
        state = tiers.record_trade(state, pnl, P.promotion)
    assert tiers.promotion_blockers(state, 2100, P) == []
    state = tiers.observe_equity(state, 2100)
    new, change = tiers.review_tier(state, 2100, P)
    assert (new.number, change and change.to_tier) == (2, 2)
    deep = tiers.observe_equity(tiers.observe_equity(state, 3000), 2000)  # 33 % in the tier
    assert any("drawdown in the tier" in b for b in tiers.promotion_blockers(deep, 2100, P))


def test_demotion_only_20_percent_below_the_floor() -> None:
    state = tiers.initial_tier(2500, P.tiers)
    assert tiers.review_tier(state, 1601, P)[1] is None
    new, change = tiers.review_tier(state, 1599, P)
    assert new.number == 1 and change is not None and "20%" in change.reason


def test_record_trade_refuses_nan_pnl() -> None:
    with pytest.raises(ValueError, match="pnl"):
        tiers.record_trade(tiers.initial_tier(100, P.tiers), math.nan, P.promotion)


def test_stage_for_reaches_each_stage_at_its_threshold() -> None:
    assert [drawdown.stage_for(d, P.drawdown_stages) for d in (0, 0.049, 0.05, 0.1, 0.15, 0.2)] == [
        0,
        0,
        1,
        2,
        3,
        4,
    ]


def test_one_trigger_never_counts_twice() -> None:
    state = drawdown.DrawdownState(peak=100, stage=3)
    assert drawdown.size_multiplier(state, P) == 0.5  # not 0.7 x 0.5
    resumed = drawdown.DrawdownState(peak=100, stage=2, resume_multiplier=0.25)
    assert drawdown.size_multiplier(resumed, P) == 0.25  # the strictest of the one rule


def test_review_is_refused_before_the_cooldown_and_without_preservation() -> None:
    state = start_state(P, 1000, NOW)
    with pytest.raises(ValueError, match="not active"):
        review(P, state, 1000, NOW)
    state, events = observe(P, state, 790, NOW)
    assert [e.kind for e in events] == ["drawdown_stage", "capital_preservation_start"]
    assert events[0].level == "EMERGENCY"
    with pytest.raises(ValueError, match="cooldown runs until 2025-01-03T00:00:00Z"):
        review(P, state, 790, NOW + timedelta(hours=47))
    state, event = review(P, state, 790, NOW + timedelta(hours=48))
    assert event.kind == "capital_preservation_end" and event.detail["reviewed_by"] == "operator"
    assert state.drawdown.peak == 790 and state.drawdown.resume_multiplier == 0.25


def test_preservation_blocks_entries_and_freezes_the_stage() -> None:
    state, _ = observe(P, start_state(P, 1000, NOW), 790, NOW)
    again, events = observe(P, state, 500, NOW + timedelta(hours=1))
    assert events == [] and again.drawdown.stage == 4
    decision = decide_entry(P, state, _account(), _instance(), EntryRequest("BTC/USDT", 100.0))
    assert not decision.allowed and decision.reasons.refused_by == "capital_preservation"


def test_positions_to_close_keeps_only_winners_above_the_threshold() -> None:
    assert drawdown.positions_to_close({"a": 0.2, "b": 0.05, "c": -0.1}, 0.05) == ["b", "c"]


@pytest.mark.parametrize(("peak", "equity"), [(0, 1), (math.nan, 1), (1, math.inf), (-5, 1)])
def test_drawdown_fraction_refuses_bad_numbers(peak: float, equity: float) -> None:
    with pytest.raises(ValueError, match=r"peak|equity"):
        drawdown.drawdown_fraction(peak, equity)


def test_atr_stop_falls_back_to_the_percentage_and_says_so() -> None:
    risk = RISK_PROFILES["medium"]
    assert sizing.stop_for(100, risk, strategy_stop=None, atr=2.5).distance == pytest.approx(0.05)
    fallback = sizing.stop_for(100, risk, strategy_stop=None, atr=math.nan)
    assert fallback.source == "percent (no ATR yet)" and fallback.distance == risk.stop_loss_pct
    assert sizing.stop_for(100, risk, strategy_stop=96.0, atr=2.5).source == "strategy"
    with pytest.raises(ValueError, match="below the entry price"):
        sizing.stop_for(100, risk, strategy_stop=101.0, atr=None)
    with pytest.raises(ValueError, match="price"):
        sizing.stop_for(-1, risk, strategy_stop=None, atr=None)


def test_risk_based_size_is_risk_over_stop_distance() -> None:
    risk = RISK_PROFILES["medium"]
    stop = sizing.stop_for(100, risk, strategy_stop=None, atr=2.5)  # 5 %
    assert sizing.raw_notional(risk, P.tiers[0], 1000, stop) == pytest.approx(0.02 * 1000 / 0.05)
    with pytest.raises(ValueError, match="instance_equity"):
        sizing.raw_notional(risk, P.tiers[0], math.nan, stop)


def test_allocation_headrooms_per_asset_and_tag() -> None:
    config = ProtocolConfig.model_validate(
        {"allocation": {"tags": {"majors": {"assets": ["BTC", "ETH"], "max_fraction": 0.5}}}}
    ).allocation
    rooms = allocation.headrooms("BTC/USDT", {"BTC": 300, "ETH": 150}, 1000, config)
    assert [(r.rule, r.room) for r in rooms] == [("asset BTC 40%", 100), ("tag majors 50%", 50)]
    assert allocation.tightest(rooms).rule == "tag majors 50%"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="symbol"):
        allocation.base_asset("BTCUSDT")
    with pytest.raises(ValueError, match="exposure of BTC/USDT"):
        allocation.exposure_by_asset({"BTC/USDT": -1.0})


def _account(**over: object) -> AccountView:
    values = {"equity": 1000.0, "cash": 1000.0, "open_positions": 0, "exposure": {}}
    return AccountView(**{**values, **over})  # type: ignore[arg-type]


def _instance(**over: object) -> InstanceView:
    values = {
        "id": "a",
        "equity": 1000.0,
        "open_value": 0.0,
        "open_positions": 0,
        "risk": RISK_PROFILES["high"],
    }
    return InstanceView(**{**values, **over})  # type: ignore[arg-type]


def test_decision_reasons_name_tier_stage_multipliers_caps() -> None:
    state = start_state(P, 1000, NOW)
    state, _ = observe(P, state, 890, NOW)  # 11 % -> stage 2
    decision = decide_entry(
        P, state, _account(equity=890.0, cash=890.0), _instance(), EntryRequest("ADA/USDT", 1.0)
    )
    assert decision.allowed
    reasons = decision.reasons.to_dict()
    assert reasons["tier"] == 1 and reasons["stage"] == 2
    rules = {"streak": 1.0, "low_win": 1.0, "volatility": 1.0, "high_win": 1.0}
    assert reasons["multipliers"] == {"drawdown": 0.7, "strategy": 1.0, **rules}
    assert decision.notional == pytest.approx(min(0.15 * 1000, 0.15 * 890) * 0.7)
    assert reasons["caps"] == ["tier 1 max position 15%"]


def test_small_room_is_refused_naming_the_limit_and_cash_caps() -> None:
    state = start_state(P, 1000, NOW)
    full = decide_entry(
        P, state, _account(exposure={"BTC": 398.0}), _instance(), EntryRequest("BTC/USDT", 10.0)
    )
    assert not full.allowed and full.reasons.refused_by == "asset BTC 40%"
    poor = decide_entry(P, state, _account(cash=40.0), _instance(), EntryRequest("XRP/USDT", 1.0))
    assert poor.allowed and poor.notional == 40.0 and poor.reasons.caps[-1] == "cash"
