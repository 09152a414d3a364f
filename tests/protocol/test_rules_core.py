"""Issue 13's pure rules one by one: streaks, locks and their rounding, Kelly and the
adjustments, correlation, exits, the combination rule, the configuration's checks and the
record's storage (hostile values included)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from trading_core.config_protocol import (
    AdaptiveConfig,
    CorrelationConfig,
    ExitsConfig,
    KellyConfig,
    ProtectionsConfig,
    ProtocolConfig,
    StreaksConfig,
)
from trading_core.protocol import adaptive, correlation, exits, gate, protections, rules, streaks
from trading_core.protocol.trades import ClosedTrade

T = datetime(2024, 1, 1)
P = ProtocolConfig()


def trade(pnl: float, at: datetime = T, reason: str = "signal", symbol: str = "BTC/USDT"):
    return ClosedTrade("a", symbol, at, pnl, pnl / 100.0, reason)


# ------------------------------------------------------------------------------ streaks


def test_streak_phases_and_their_thresholds() -> None:
    cfg = StreaksConfig()
    state, changes = streaks.StreakState(), []
    for _ in range(10):
        state, change = streaks.record(state, -1.0, cfg, scope="a")
        changes.append(change and change.after)
    assert [c for c in changes if c] == ["caution", "severe", "demoted"]
    assert changes.index("caution") == 4 and changes.index("severe") == 7
    # A win ends caution; a demotion sticks until the review.
    assert streaks.record(state, 5.0, cfg, scope="a")[0].phase == "demoted"
    assert streaks.review(state).phase == "normal"


def test_severe_counts_losses_in_the_window_not_in_a_row() -> None:
    cfg = StreaksConfig()
    state = streaks.StreakState()
    for pnl in (-1, -1, -1, -1, 1, -1, -1, -1, -1):  # 8 of the last 9, never 5 in a row
        state, _ = streaks.record(state, pnl, cfg, scope="a")
    assert state.consecutive == 4 and state.phase == "severe"


def test_the_account_never_demotes_and_break_even_is_no_loss() -> None:
    cfg = StreaksConfig()
    state = streaks.StreakState()
    for _ in range(12):
        state, _ = streaks.record(state, -1.0, cfg, scope=streaks.ACCOUNT)
    assert state.phase == "severe"
    assert streaks.record(state, 0.0, cfg, scope=streaks.ACCOUNT)[0].consecutive == 0


def test_streak_entry_check_takes_the_stricter_phase_once() -> None:
    cfg = StreaksConfig()
    v = streaks.check_entry("caution", "severe", 0.85, cfg)
    assert (v.phase, v.multiplier, v.refusal) == ("severe", 0.25, None)
    assert streaks.check_entry("caution", "normal", 0.6, cfg).refusal == "streak_score"
    assert streaks.check_entry("normal", "normal", None, cfg).refusal is None
    assert streaks.check_entry("caution", "normal", None, cfg).refusal is None  # allowed
    refuse = StreaksConfig(unscored_entries="refuse")
    assert streaks.check_entry("caution", "normal", None, refuse).refusal == "streak_score"
    assert streaks.check_entry("demoted", "normal", 1.0, cfg).refusal == "streak_demoted"


# -------------------------------------------------------------------------- protections


@pytest.mark.parametrize(
    ("moment", "timeframe", "boundary"),
    [
        (datetime(2024, 1, 1, 10, 0), "1h", datetime(2024, 1, 1, 11, 0)),  # on one: the next
        (datetime(2024, 1, 1, 10, 0, 1), "1h", datetime(2024, 1, 1, 11, 0)),
        (datetime(2024, 1, 1, 10, 59, 59), "1h", datetime(2024, 1, 1, 11, 0)),
        (datetime(2024, 1, 1, 13, 20), "5m", datetime(2024, 1, 1, 13, 25)),
        (datetime(2024, 1, 1, 13, 21), "5m", datetime(2024, 1, 1, 13, 25)),
        (datetime(2024, 1, 1, 3, 0), "4h", datetime(2024, 1, 1, 4, 0)),
        (datetime(2024, 1, 1, 12, 0), "1d", datetime(2024, 1, 2)),
    ],
)
def test_locks_end_on_the_next_bar_boundary_as_freqtrade_rounds(
    moment: datetime, timeframe: str, boundary: datetime
) -> None:
    assert protections.next_boundary(moment, timeframe) == boundary


def test_cooldown_counts_stops_only_and_a_winning_trailing_stop_is_none() -> None:
    cfg = ProtectionsConfig.model_validate({"rules": [{"method": "cooldown", "stop_duration": 30}]})
    assert protections.on_close(trade(-1, reason="signal"), [], cfg, "1h") == []
    win = ClosedTrade("a", "BTC/USDT", T, 1.0, 0.01, "trailing_stop")
    assert protections.on_close(win, [win], cfg, "1h") == []
    lock = protections.on_close(trade(-1, reason="atr_stop"), [], cfg, "1h")[0]
    assert lock.until == T + timedelta(hours=1) and lock.symbol == "BTC/USDT"
    assert lock.covers("a", "BTC/USDT", T) and not lock.covers("a", "ETH/USDT", T)
    assert not lock.covers("b", "BTC/USDT", T) and not lock.covers("a", "BTC/USDT", lock.until)


def test_stoploss_guard_needs_the_limit_within_the_lookback() -> None:
    rule = {"method": "stoploss_guard", "lookback_period": 60, "trade_limit": 2,
            "stop_duration": 10, "only_per_pair": True}  # fmt: skip
    cfg = ProtectionsConfig.model_validate({"rules": [rule]})
    old = trade(-1, T - timedelta(minutes=61), "stop_loss")
    now = trade(-1, T, "stop_loss")
    assert protections.on_close(now, [old, now], cfg, "1h") == []  # the first is too old
    recent = trade(-1, T - timedelta(minutes=59), "stop_loss")
    other = trade(-1, T - timedelta(minutes=1), "stop_loss", symbol="ETH/USDT")
    assert protections.on_close(now, [other, now], cfg, "1h") == []  # per pair
    [lock] = protections.on_close(now, [recent, now], cfg, "1h")
    assert lock.rule == "stoploss_guard" and lock.symbol == "BTC/USDT"


def test_low_profit_sums_profit_ratios() -> None:
    rule = {"method": "low_profit", "lookback_period": 600, "trade_limit": 2,
            "stop_duration": 60, "required_profit": 0.0}  # fmt: skip
    cfg = ProtectionsConfig.model_validate({"rules": [rule]})
    a, b = trade(3.0, T - timedelta(minutes=5)), trade(-2.0)
    assert protections.on_close(b, [a, b], cfg, "1h") == []  # +0.01 >= 0
    c = trade(-2.0, T - timedelta(minutes=5))
    [lock] = protections.on_close(b, [c, b], cfg, "1h")
    assert lock.rule == "low_profit" and "-0.0400" in lock.reason


@pytest.mark.parametrize(
    "rule",
    [
        {"method": "cooldown", "stop_duration": -5},
        {"method": "cooldown", "stop_duration": float("nan")},
        {"method": "cooldown", "stop_duration": 10, "reasons": ["signal"]},
        {"method": "stoploss_guard", "lookback_period": 60, "trade_limit": 0, "stop_duration": 5},
        {"method": "sleep", "stop_duration": 5},
        {"method": "low_profit", "lookback_period": 60, "trade_limit": 1},
    ],
)
def test_hostile_protections_are_refused(rule: dict) -> None:
    with pytest.raises(ValidationError):
        ProtectionsConfig.model_validate({"rules": [rule]})


# ------------------------------------------------------------------------------ adaptive


def test_kelly_fraction_and_its_fallbacks() -> None:
    cfg = KellyConfig(window=4, min_trades=4, edge_factor=0.5)
    k = adaptive.kelly([2, 2, 2, -1], cfg)
    assert k.fraction == pytest.approx(0.5 * (0.75 - 0.25 / 2))
    assert adaptive.kelly([2, 2, -1], cfg).fraction is None  # too few trades
    assert adaptive.kelly([2, 2, 2, 2], cfg).fraction is None  # no loss: R undefined
    assert adaptive.kelly([-1, -1, -1, -1], cfg).fraction == 0.0
    assert adaptive.kelly([1, -1, 1, -3], cfg).fraction == 0.0  # negative edge, floored
    with pytest.raises(ValueError, match="finite"):
        adaptive.kelly([1, math.nan, 1, -1], cfg)
    with pytest.raises(ValidationError):
        KellyConfig(edge_factor=0.3)  # allowed: 0.5..1.0


def test_win_rate_adjustments_need_their_full_windows() -> None:
    cfg = AdaptiveConfig(low_win_window=4, high_win_window=4)
    assert not adaptive.low_win_triggered([-1, -1, -1], cfg)
    assert adaptive.low_win_triggered([1, -1, -1, -1], cfg)
    assert adaptive.high_win_triggered([1, 1, 1, -1], cfg)
    assert not adaptive.high_win_triggered([1, 1, -1, -1], cfg)


def test_volatility_percentile_is_window_bound_and_flat_is_not_extreme() -> None:
    cfg = AdaptiveConfig(atr_period=3, volatility_window=5)
    high, low, close = [100.5] * 9 + [104.0], [99.5] * 9 + [96.0], [100.0] * 10
    assert adaptive.volatility_percentile(high, low, close, cfg) == 1.0
    assert adaptive.volatility_percentile(high[:-1], low[:-1], close[:-1], cfg) == 0.0
    assert math.isnan(adaptive.volatility_percentile(high[:5], low[:5], close[:5], cfg))
    # Only the last bars_needed bars count: a longer history gives the same number.
    longer = adaptive.volatility_percentile([50.0, *high], [40.0, *low], [45.0, *close], cfg)
    assert longer == 1.0
    with pytest.raises(ValueError, match="same length"):
        adaptive.volatility_percentile(high, low[:-1], close, cfg)


def test_the_combination_rule_never_counts_one_trigger_twice() -> None:
    base = {"drawdown": 0.7, "strategy": 1.0}
    assert gate.combine({**base, "streak": 0.5, "low_win": 0.75}) == (0.7 * 0.5, False)
    assert gate.combine({**base, "volatility": 0.6})[0] == pytest.approx(0.42)
    assert gate.combine({**base, "high_win": 1.2}) == (0.7, False)  # a boost never offsets
    assert gate.combine({"drawdown": 1.0, "strategy": 0.5, "high_win": 1.2}) == (0.6, True)


# --------------------------------------------------------------------------- correlation


def series(factors: list[float]) -> correlation.Closes:
    prices = [100.0]
    for f in factors:
        prices.append(prices[-1] * f)
    return list(range(len(prices))), prices


def test_correlation_counts_positions_above_the_threshold() -> None:
    cfg = CorrelationConfig(window=3, timeframe="1h", max_correlated=2)
    same = series([1.01, 0.99, 1.02, 0.98])
    closes = {"A/USDT": same, "B/USDT": same, "C/USDT": series([0.99, 1.01, 0.97, 1.03])}
    held = {"x:B/USDT": "B/USDT", "y:C/USDT": "C/USDT"}
    v = correlation.check("A/USDT", held, closes, cfg)
    assert [k for k, _ in v.correlated] == ["x:B/USDT"] and not v.refused
    v = correlation.check("A/USDT", {**held, "z:A/USDT": "A/USDT"}, closes, cfg)
    assert v.refused and "2 open positions" in v.detail  # the same symbol correlates 1


def test_correlation_without_enough_or_with_flat_history_is_none() -> None:
    assert math.isnan(correlation.returns_correlation(series([1.01]), series([1.02]), 3))
    flat = series([1.0, 1.0, 1.0, 1.0])
    assert math.isnan(correlation.returns_correlation(flat, series([1.01, 0.99, 1.0, 1.02]), 3))
    bad = ([0, 1, 2, 3, 4], [1.0, math.nan, 1.0, 1.0, 1.0])
    assert math.isnan(correlation.returns_correlation(bad, series([1.01, 0.99, 1.0, 1.02]), 3))


# --------------------------------------------------------------------------------- exits


def plan(**exits_config: object) -> exits.ExitPlan:
    cfg = ExitsConfig.model_validate(exits_config)
    return exits.make_plan(
        100.0, 10.0, T, stop=90.0, stop_source="percent", take=None, trailing_pct=None, config=cfg
    )


def test_tiers_fill_in_order_within_one_bar_and_the_stop_wins_a_tie() -> None:
    p = plan(take_profit={"enabled": True})
    orders = exits.intrabar(p, 10.0, 100.0, (100.0, 111.0, 100.0))
    assert [(o.reason, o.price, o.quantity) for o in orders] == [
        ("take_profit_1", pytest.approx(105.0), 3.0),
        ("take_profit_2", pytest.approx(110.0), 3.0),
    ]
    gap = exits.intrabar(p, 10.0, 100.0, (107.0, 108.0, 107.0))
    assert [(o.reason, o.price) for o in gap] == [("take_profit_1", 107.0)]  # gap: the open
    tie = exits.intrabar(p, 10.0, 100.0, (100.0, 106.0, 89.0))
    assert [(o.reason, o.quantity) for o in tie] == [("stop_loss", 10.0)]
    # Every tier's level reached: what is left trails 5 % under the highest high.
    assert exits.active_stop(p, 125.0) == (pytest.approx(118.75), "trailing_stop")


def test_a_partial_exit_below_the_minimum_merges_and_leaves_no_dust() -> None:
    p = plan(take_profit={"enabled": True})
    orders = exits.intrabar(p, 10.0, 100.0, (100.0, 106.0, 100.0), min_notional=400.0)
    assert orders == []  # 3 x 105 = 315 < 400: waits for the next tier
    orders = exits.intrabar(p, 10.0, 106.0, (106.0, 111.0, 106.0), min_notional=400.0)
    assert [(o.reason, o.quantity) for o in orders] == [("take_profit_2", 6.0)]
    # What would stay (1 unit, 120) is below the minimum: the last tier takes it all.
    orders = exits.intrabar(p, 4.0, 111.0, (111.0, 121.0, 111.0), min_notional=200.0)
    assert [(o.reason, o.quantity) for o in orders] == [("take_profit_3", 4.0)]


def test_time_stop_and_atr_stop_reason() -> None:
    p = plan(time_stop={"hours": 3, "min_move": 0.02})
    assert exits.at_close(p, 10.0, T + timedelta(hours=2), 100.5) is None
    assert exits.at_close(p, 10.0, T + timedelta(hours=3), 102.5) is None  # moved 2.5 %
    assert exits.at_close(p, 10.0, T + timedelta(hours=3), 101.0).reason == "time_stop"
    cfg = ExitsConfig()
    atr = exits.make_plan(100, 1, T, stop=95, stop_source="atr", take=None, trailing_pct=None,
                          config=cfg)  # fmt: skip
    assert exits.intrabar(atr, 1.0, 100.0, (99.0, 99.0, 94.0))[0].reason == "atr_stop"


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf, "100"])
def test_hostile_exit_plans_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="entry_price"):
        exits.make_plan(value, 1.0, T, stop=None, stop_source=None, take=None,  # type: ignore[arg-type]
                        trailing_pct=None, config=ExitsConfig())  # fmt: skip


def tiers(*rows: tuple[float, float]) -> dict:
    return {"take_profit": {"tiers": [{"gain": g, "fraction": f} for g, f in rows]}}


@pytest.mark.parametrize(
    ("tree", "words"),
    [
        (tiers((0.1, 0.3), (0.05, 0.3)), "strictly increasing"),
        (tiers((0.1, 0.6), (0.2, 0.6)), "sum to 1.2"),
        (tiers((0.1, 0.1), (0.2, 0.1), (0.3, 0.1), (0.4, 0.1)), "at most 3"),
        ({"time_stop": {"hours": 0, "min_move": 0.01}}, "greater than 0"),
        ({"min_exit_notional": -1}, "greater than or equal to 0"),
    ],
)
def test_hostile_exit_settings_name_the_problem(tree: dict, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        ExitsConfig.model_validate(tree)


def test_hostile_streak_and_correlation_settings() -> None:
    with pytest.raises(ValidationError, match="severe_losses"):
        StreaksConfig(severe_losses=11, severe_window=10)
    with pytest.raises(ValidationError, match=r"correlation\.timeframe"):
        CorrelationConfig(timeframe="7m")
    with pytest.raises(ValidationError):
        CorrelationConfig(threshold=1.5)


# ------------------------------------------------------------------------------ storage


def test_the_record_survives_a_round_trip_and_refuses_garbage() -> None:
    cfg = ProtocolConfig.model_validate(
        {"protections": {"rules": [{"method": "cooldown", "stop_duration": 60}]}}
    )
    state = rules.RulesState()
    for k in range(6):
        state, _ = rules.on_close(cfg, state, trade(-1, T + timedelta(hours=k), "stop_loss"), "1h")
    assert state.streak("a").phase == "caution" and state.locks
    again = rules.RulesState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    with pytest.raises(ValueError, match="streak phase"):
        rules.RulesState.from_dict({"account": {"phase": "panic"}})
    with pytest.raises(ValueError, match="pnl"):
        ClosedTrade("a", "BTC/USDT", T, math.nan, 0.0, "signal")
    with pytest.raises(ValueError, match="closed_at"):
        ClosedTrade("a", "BTC/USDT", "yesterday", 1.0, 0.0, "signal")  # type: ignore[arg-type]


def test_the_review_ends_a_demotion() -> None:
    state = gate.start_state(P, 1000.0, T)
    for k in range(10):
        state, _ = gate.record_close(P, state, trade(-1, T + timedelta(hours=k)), "1h")
    assert state.rules.streak("a").phase == "demoted"
    state, event = gate.review_instance(state, "a", T + timedelta(days=1))
    assert event is not None and event.detail["from"] == "demoted"
    assert state.rules.streak("a").phase == "normal"
    assert gate.review_instance(state, "a", T)[1] is None  # nothing left to review


def test_the_executor_stores_the_record_with_the_protocol_state() -> None:
    from executor.protocol_gate import StoredProtocol

    cfg = ProtocolConfig.model_validate(
        {"protections": {"rules": [{"method": "cooldown", "stop_duration": 60}]}}
    )
    state = gate.start_state(cfg, 1000.0, T)
    for k in range(5):
        state, _ = gate.record_close(
            cfg, state, trade(-1, T + timedelta(hours=k), "stop_loss"), "1h"
        )
    stored = StoredProtocol(state, 1000.0, {"sim:BTC/USDT:a": -5.0})
    again = StoredProtocol.from_json(stored.to_json())
    assert again.state == state and again.state.rules.streak("a").phase == "caution"
    raw = json.loads(stored.to_json())
    raw["rules"]["locks"][0]["until"] = "soon"
    with pytest.raises(ValueError, match="protocol_state"):
        StoredProtocol.from_json(json.dumps(raw))


def test_the_boost_never_lifts_a_size_above_the_tier_cap() -> None:
    from dataclasses import replace

    from trading_core.config_portfolio import RISK_PROFILES

    state = gate.start_state(P, 1000.0, T)
    wins = tuple(trade(1.0, T + timedelta(hours=k)) for k in range(50))
    state = replace(state, rules=rules.RulesState(history={"a": wins}))
    risk = RISK_PROFILES["high"].model_copy(update={"position_fraction": 1.0})
    decision = gate.decide_entry(
        P,
        state,
        gate.AccountView(1000.0, 1000.0, 0, {}),
        gate.InstanceView("a", 1000.0, 0.0, 0, risk),
        gate.EntryRequest("ADA/USDT", 1.0),
    )
    assert decision.reasons.multipliers["high_win"] == 1.2
    assert decision.reasons.size_multiplier == pytest.approx(1.2)
    assert decision.notional == pytest.approx(150.0)  # 15 % of 1000, not 180
    assert decision.reasons.caps == ("tier 1 max position 15%",)


def test_entry_refusals_name_the_lock_and_the_correlation() -> None:
    from dataclasses import replace

    from trading_core.config_portfolio import RISK_PROFILES

    lock = protections.Lock("a", None, T + timedelta(hours=1), "stoploss_guard", "2 stops")
    state = gate.start_state(P, 1000.0, T)
    state = replace(state, rules=rules.RulesState(locks=(lock,)))
    inst = gate.InstanceView("a", 1000.0, 0.0, 0, RISK_PROFILES["high"])
    account = gate.AccountView(1000.0, 1000.0, 0, {})
    locked = gate.decide_entry(P, state, account, inst, gate.EntryRequest("ADA/USDT", 1.0, now=T))
    assert locked.reasons.refused_by == "lock" and "stoploss_guard" in locked.reasons.detail
    later = gate.EntryRequest("ADA/USDT", 1.0, now=T + timedelta(hours=1))
    assert gate.decide_entry(P, state, account, inst, later).allowed
    same = series([1.01, 0.99, 1.02, 0.98] * 10)
    held = {f"{k}:ADA/USDT": "ADA/USDT" for k in "xyz"}
    crowded = gate.AccountView(1000.0, 1000.0, 3, {}, held, {"ADA/USDT": same})
    roomy = ProtocolConfig.model_validate(
        {"tiers": [{"floor": 0, "risk_per_trade": 0.02, "max_position": 0.15, "max_positions": 9}]}
    )
    refused = gate.decide_entry(roomy, state, crowded, inst, later)
    assert (
        refused.reasons.refused_by == "correlation" and "3 open positions" in refused.reasons.detail
    )


def test_no_edge_sizes_risk_based_or_refuses() -> None:
    from dataclasses import replace

    from trading_core.config_portfolio import RISK_PROFILES

    losses = tuple(trade(-1.0, T + timedelta(hours=k)) for k in range(20))
    risk = RISK_PROFILES["medium"].model_copy(update={"sizing": "kelly", "stop": "percent"})
    inst = gate.InstanceView("a", 1000.0, 0.0, 0, risk)
    account = gate.AccountView(1000.0, 1000.0, 0, {})
    request = gate.EntryRequest("ADA/USDT", 1.0)
    for no_edge, allowed in (("risk_based", True), ("refuse", False)):
        cfg = ProtocolConfig.model_validate(
            {"adaptive": {"kelly": {"no_edge": no_edge}}, "streaks": {"enabled": False}}
        )
        state = replace(
            gate.start_state(cfg, 1000.0, T), rules=rules.RulesState(history={"a": losses})
        )
        decision = gate.decide_entry(cfg, state, account, inst, request)
        assert decision.allowed is allowed
        if allowed:
            assert "no edge" in decision.reasons.detail
        else:
            assert decision.reasons.refused_by == "kelly_no_edge"
