"""One scenario table per protocol rule, run through the portfolio backtester.

Fees are 0 so every size can be checked by hand; prices are flat unless the rule needs a
move. Each table's comment gives the arithmetic.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.protocol.scenarios import (
    Event,
    Scenario,
    Trade,
    assert_outcome,
    run_in_backtester,
)

ONE_TIER = [{"floor": 0, "risk_per_trade": 0.02, "max_position": 1.0, "max_positions": 10}]
NO_CAPS = {"assets": {}}


def config(instances: list[dict], protocol: dict | None = None, cash: float = 1000.0) -> dict:
    return {
        "executor": {"starting_cash": cash},
        "fees": {"taker": 0.0, "maker": 0.0, "slippage_bps": 0.0},
        "strategies": instances,
        "protocol": protocol or {},
    }


def instance(iid: str, symbol: str, allocation: float, **risk: Any) -> dict:
    """Fixed fraction of the instance's equity, stops far away, no target (overridable)."""
    settings = {
        "sizing": "fixed_fraction",
        "position_fraction": 1.0,
        "stop": "percent",
        "stop_loss_pct": 0.9,
        "take_profit_pct": None,
        "paused_from_stage": 4,
        **risk,
    }
    return {
        "id": iid,
        "symbols": [symbol],
        "allocation": allocation,
        "risk_profile": "high",
        "risk": settings,
    }


def flat(price: float, ticks: range, enter: tuple[int, ...] = (), exit_: tuple[int, ...] = ()):
    return [[t, price, price, price, price, int(t in enter), int(t in exit_)] for t in ticks]


def bar(t: int, o: float, c: float, enter: int = 0, exit_: int = 0) -> list[float]:
    return [t, o, max(o, c), min(o, c), c, enter, exit_]


def drawdown_and_preservation() -> Scenario:
    # 1000 all in BTC at 100 (qty 10); closes 94/89/84/79: drawdown 6/11/16/21 % -> stages
    # 1..4; at 21 % capital preservation closes the position at 79 (equity 790). Cooldown
    # 48 h from the close of bar 4 (T0+5h) -> the automatic review at the close of bar 52.
    # An entry at bar 10 is refused. Bar 53 enters at 25 %: 790 x 0.25 = 197.5 (qty 2.5);
    # closes 90 (equity 817.5 >= 790 x 1.02) and 100 (842.5 >= 817.5 x 1.02) restore the
    # size to 50 % then 75 %; exit at bar 56; bar 57 enters 842.5 x 0.75 = 631.875.
    rows = [bar(0, 100, 100, enter=1), bar(1, 100, 94), bar(2, 94, 89), bar(3, 89, 84)]
    rows += [bar(4, 84, 79), *flat(79, range(5, 54), enter=(10, 53))]
    rows += [bar(54, 79, 90), bar(55, 90, 100), *flat(100, range(56, 59), enter=(57,), exit_=(56,))]
    return Scenario(
        name="drawdown stages, capital preservation, auto review, stepwise restore",
        candles={("a", "BTC/USDT"): rows},
        config=config([instance("a", "BTC/USDT", 1.0)], {"tiers": ONE_TIER, "allocation": NO_CAPS}),
        trades=[
            Trade("a", "BTC/USDT", 0, 4, "capital_preservation", size_multiplier=1.0),
            Trade("a", "BTC/USDT", 53, 56, "signal", size_multiplier=0.25, entry_value=197.5),
            Trade("a", "BTC/USDT", 57, None, None, size_multiplier=0.75, entry_value=631.875),
        ],
        events=[
            Event(1, "drawdown_stage", {"from": 0, "to": 1, "alert_level": "WARNING"}),
            Event(2, "drawdown_stage", {"from": 1, "to": 2, "alert_level": "CRITICAL"}),
            Event(3, "drawdown_stage", {"from": 2, "to": 3, "alert_level": "EMERGENCY"}),
            Event(4, "drawdown_stage", {"from": 3, "to": 4, "alert_level": "EMERGENCY"}),
            Event(4, "capital_preservation_start", {"cooldown_until": "2024-01-03T05:00:00Z"}),
            Event(52, "capital_preservation_end", {"reviewed_by": "auto", "resume_size": 0.25}),
            Event(54, "size_restored", {"from": 0.25, "to": 0.5}),
            Event(55, "size_restored", {"from": 0.5, "to": 0.75}),
        ],
        refusals=[Event(10, "entry_refused", {"refused_by": "capital_preservation"}, "a")],
    )


def stage_multipliers_and_pause() -> Scenario:
    # a: 500 in BTC at 100 (qty 5). Close 78: equity 890, 11 % -> stage 2 (x 0.7). b (ETH,
    # equity 250, 20 %) enters 50 x 0.7 = 35. Close 70: equity 850, 15 % -> stage 3 (x 0.5,
    # replacing x 0.7: 0.35 would count the trigger twice). c, high risk (paused from stage
    # 3), is refused; b re-enters at 50 x 0.5 = 25.
    btc = [bar(0, 100, 100, enter=1), bar(1, 100, 78), *flat(78, range(2, 3))]
    btc += [bar(3, 78, 70), *flat(70, range(4, 7))]
    eth = flat(50, range(7), enter=(2, 5), exit_=(4,))
    xrp = flat(1, range(7), enter=(4,))
    return Scenario(
        name="stage multipliers replace each other; high-risk instances pause at 15 %",
        candles={("a", "BTC/USDT"): btc, ("b", "ETH/USDT"): eth, ("c", "XRP/USDT"): xrp},
        config=config(
            [
                instance("a", "BTC/USDT", 0.5),
                instance("b", "ETH/USDT", 0.25, position_fraction=0.2),
                instance("c", "XRP/USDT", 0.25, paused_from_stage=3),
            ],
            {"tiers": ONE_TIER, "allocation": NO_CAPS},
        ),
        trades=[
            Trade("a", "BTC/USDT", 0, None, None, entry_value=500.0),
            Trade("b", "ETH/USDT", 2, 4, "signal", size_multiplier=0.7, entry_value=35.0),
            Trade("b", "ETH/USDT", 5, None, None, size_multiplier=0.5, entry_value=25.0),
        ],
        events=[
            Event(1, "drawdown_stage", {"from": 0, "to": 2, "size_multiplier": 0.7}),
            Event(3, "drawdown_stage", {"from": 2, "to": 3, "size_multiplier": 0.5}),
        ],
        refusals=[Event(4, "entry_refused", {"refused_by": "drawdown_pause", "stage": 3}, "c")],
    )


def tier_promotion_and_demotion() -> Scenario:
    # 1900 (tier 1, 15 %): 285 at 100 -> exit 200: +285, equity 2185 (1 trade: no promotion).
    # 327.75 at 200 -> exit 220: +32.775, equity 2217.775, 2 trades, all won -> tier 2.
    # Tier 2 caps 15 % to 12 %: 266.133 at 220. Close 30: equity 1987.9 < 2000 (demotion at
    # 0 % below the floor here), drawdown 10.4 % -> stage 2, then tier 1.
    rows = [bar(0, 100, 100, enter=1), bar(1, 100, 200, exit_=1), bar(2, 200, 200, enter=1)]
    rows += [bar(3, 200, 220, exit_=1), bar(4, 220, 220, enter=1), bar(5, 220, 30)]
    return Scenario(
        name="tier promotion needs the performance; demotion below the floor",
        candles={("a", "BTC/USDT"): rows},
        config=config(
            [instance("a", "BTC/USDT", 1.0, position_fraction=0.15)],
            {
                "promotion": {"min_trades": 2, "window_trades": 2},
                "demotion_below_floor": 0.0,
                "allocation": NO_CAPS,
            },
            cash=1900.0,
        ),
        trades=[
            Trade("a", "BTC/USDT", 0, 1, "signal", tier=1, entry_value=285.0),
            Trade("a", "BTC/USDT", 2, 3, "signal", tier=1, entry_value=327.75),
            Trade(
                "a",
                "BTC/USDT",
                4,
                None,
                None,
                tier=2,
                entry_value=0.12 * 2217.775,
                caps=("tier 2 max position 12%",),
            ),
        ],
        events=[
            Event(3, "tier_change", {"from": 1, "to": 2}),
            Event(5, "drawdown_stage", {"from": 0, "to": 2}),
            Event(5, "tier_change", {"from": 2, "to": 1}),
        ],
    )


def allocation_caps() -> Scenario:
    # BTC 40 %: b1 300, b2 wants 300 but gets the 100 left, b3 is refused. Tag alts 25 %
    # (ADA, XRP): a1 150, x1 wants 150 but gets 100.
    ticks = range(3)
    return Scenario(
        name="allocation caps per asset and per tag",
        candles={
            ("b1", "BTC/USDT"): flat(100, ticks, enter=(0,)),
            ("b2", "BTC/USDT"): flat(100, ticks, enter=(0,)),
            ("b3", "BTC/USDT"): flat(100, ticks, enter=(0,)),
            ("a1", "ADA/USDT"): flat(0.5, ticks, enter=(0,)),
            ("x1", "XRP/USDT"): flat(2, ticks, enter=(0,)),
        },
        config=config(
            [
                instance("b1", "BTC/USDT", 0.3),
                instance("b2", "BTC/USDT", 0.3),
                instance("b3", "BTC/USDT", 0.1),
                instance("a1", "ADA/USDT", 0.15),
                instance("x1", "XRP/USDT", 0.15),
            ],
            {
                "tiers": ONE_TIER,
                "allocation": {
                    "assets": {"BTC": 0.4},
                    "tags": {"alts": {"assets": ["ADA", "XRP"], "max_fraction": 0.25}},
                },
            },
        ),
        trades=[
            Trade("a1", "ADA/USDT", 0, None, None, entry_value=150.0, caps=()),
            Trade("b1", "BTC/USDT", 0, None, None, entry_value=300.0, caps=()),
            Trade("b2", "BTC/USDT", 0, None, None, entry_value=100.0, caps=("asset BTC 40%",)),
            Trade("x1", "XRP/USDT", 0, None, None, entry_value=100.0, caps=("tag alts 25%",)),
        ],
        events=[],
        refusals=[Event(0, "entry_refused", {"refused_by": "asset BTC 40%"}, "b3")],
    )


def tier_max_positions() -> Scenario:
    tier = [{**ONE_TIER[0], "max_positions": 2}]
    return Scenario(
        name="the tier's max concurrent positions",
        candles={
            (i, s): flat(10, range(2), enter=(0,))
            for i, s in (("p", "BTC/USDT"), ("q", "ETH/USDT"), ("r", "ADA/USDT"))
        },
        config=config(
            [
                instance("p", "BTC/USDT", 0.3),
                instance("q", "ETH/USDT", 0.3),
                instance("r", "ADA/USDT", 0.3),
            ],
            {"tiers": tier, "allocation": NO_CAPS},
        ),
        trades=[
            Trade("p", "BTC/USDT", 0, None, None, entry_value=300.0),
            Trade("q", "ETH/USDT", 0, None, None, entry_value=300.0),
        ],
        events=[],
        refusals=[Event(0, "entry_refused", {"refused_by": "tier_max_positions"}, "r")],
    )


def risk_based_sizing() -> Scenario:
    # Tier 1: 2 % risk, 15 % max position. r1 (equity 500, stop 1 %): 0.02 x 500 / 0.01 =
    # 1000 -> capped at 0.15 x 1000 = 150. r2 (stop 20 %): 0.02 x 500 / 0.2 = 50, uncapped.
    risk = {"sizing": "risk_based", "risk_scale": 1.0}
    return Scenario(
        name="risk-based sizing, capped by the tier",
        candles={
            ("r1", "BTC/USDT"): flat(100, range(2), enter=(0,)),
            ("r2", "ETH/USDT"): flat(100, range(2), enter=(0,)),
        },
        config=config(
            [
                instance("r1", "BTC/USDT", 0.5, stop_loss_pct=0.01, **risk),
                instance("r2", "ETH/USDT", 0.5, stop_loss_pct=0.2, **risk),
            ],
            {"allocation": NO_CAPS},
        ),
        trades=[
            Trade("r1", "BTC/USDT", 0, None, None, 1, 1.0, 150.0, ("tier 1 max position 15%",)),
            Trade("r2", "ETH/USDT", 0, None, None, 1, 1.0, 50.0, ()),
        ],
        events=[],
    )


SCENARIOS = [
    drawdown_and_preservation,
    stage_multipliers_and_pause,
    tier_promotion_and_demotion,
    allocation_caps,
    tier_max_positions,
    risk_based_sizing,
]


@pytest.mark.parametrize("build", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_scenario_in_backtester(build, scripted) -> None:
    scenario = build()
    assert_outcome(scenario, run_in_backtester(scenario))


def test_a_wrong_expectation_fails(scripted) -> None:
    """The runner is not vacuous: a table with one wrong tick is caught."""
    scenario = risk_based_sizing()
    wrong = Scenario(
        scenario.name,
        scenario.candles,
        scenario.config,
        [Trade("r1", "BTC/USDT", 0, None, None, entry_value=151.0), scenario.trades[1]],
        [],
    )
    with pytest.raises(AssertionError, match="entry_value"):
        assert_outcome(wrong, run_in_backtester(wrong))


def test_without_auto_review_preservation_lasts(scripted) -> None:
    """``auto_review_in_backtest: false``: no operator, so no entry after the cooldown."""
    base = drawdown_and_preservation()
    protocol = {**base.config["protocol"], "preservation": {"auto_review_in_backtest": False}}
    scenario = Scenario(
        "preservation without the automatic review",
        base.candles,
        {**base.config, "protocol": protocol},
        base.trades[:1],
        base.events[:5],
        [
            Event(t, "entry_refused", {"refused_by": "capital_preservation"}, "a")
            for t in (10, 53, 57)
        ],
    )
    assert_outcome(scenario, run_in_backtester(scenario))


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ([1, 100, 100, 100, float("nan"), 0, 0], "close at 2024-01-01 01:00:00 is nan"),
        ([1, 100, 100, -1, 100, 0, 0], "low at 2024-01-01 01:00:00 is -1.0"),
        ([0, 100, 100, 100, 100, 0, 0], "strictly increasing"),
    ],
)
def test_hostile_candles_are_refused_naming_the_bar(scripted, row: list, words: str) -> None:
    from trading_core.backtest.data import DataError

    rows = [[0, 100, 100, 100, 100, 1, 0], row, [2, 100, 100, 100, 100, 0, 0]]
    scenario = Scenario(
        "hostile candles",
        {("a", "BTC/USDT"): rows},
        config([instance("a", "BTC/USDT", 1.0)]),
        [],
        [],
    )
    with pytest.raises(DataError, match="instance 'a' BTC/USDT") as err:
        run_in_backtester(scenario)
    assert words in str(err.value)
