"""Issue 13's rules as scenario tables (losing streaks, locks, adaptive sizing, correlation,
exits), each run through the portfolio backtester AND the paper executor, which must take
the same decisions (``test_scenarios_paper.decisions``).

Fees are 0; each table's comment gives the arithmetic. Ticks are bar indexes: a bar opens
at ``T0 + tick`` hours and what happens at its close carries its tick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.protocol.paper_runner import run_in_paper_executor
from tests.protocol.scenarios import Event, Scenario, Trade, assert_outcome, run_in_backtester
from tests.protocol.test_scenarios import NO_CAPS, ONE_TIER, bar, config, instance
from tests.protocol.test_scenarios_paper import decisions

QUIET = {"adaptive": {"enabled": False}, "correlation": {"enabled": False}}


def protocol(**rules: Any) -> dict[str, Any]:
    return {"tiers": ONE_TIER, "allocation": NO_CAPS, **QUIET, **rules}


def losing_rows(trades: int, entries: dict[int, int]) -> list[list[float]]:
    """Trade n (from 0) may enter at tick 2n (close 100) and exits at 2n + 1 (close 99)."""
    rows = [bar(0, 100, 100, enter=int(0 in entries))]
    for n in range(trades):
        rows.append(bar(2 * n + 1, 100, 99, exit_=1))
        rows.append(bar(2 * n + 2, 99, 100, enter=int(2 * n + 2 in entries)))
    return rows


def losing_streaks() -> Scenario:
    # 10 % of the equity per trade, each losing 1 % of it (100 -> 99). Trades 1-5 lose:
    # caution at the 5th close (tick 9), instance and account. Trades 6-8 enter with score
    # 0.7 (> 0.6) at x 0.5; the 8th loss makes 8 of the last 10: severe (tick 15). Score
    # 0.7 is refused at tick 16 (severe needs > 0.8); 0.9 enters at x 0.25 (ticks 18, 20);
    # the 10th consecutive loss (tick 21) demotes the instance; tick 22 is refused.
    enter = {t: 0 for t in (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22)}
    rows = losing_rows(12, enter)
    scores = {10: 0.7, 12: 0.7, 14: 0.7, 16: 0.7, 18: 0.9, 20: 0.9, 22: 0.95}
    trades = [
        Trade("a", "BTC/USDT", t, t + 1, "signal", size_multiplier=1.0) for t in range(0, 10, 2)
    ]
    trades += [
        Trade("a", "BTC/USDT", t, t + 1, "signal", size_multiplier=0.5) for t in (10, 12, 14)
    ]
    trades += [Trade("a", "BTC/USDT", t, t + 1, "signal", size_multiplier=0.25) for t in (18, 20)]
    phase = "streak_phase"
    return Scenario(
        name="losing streaks: caution, severe, demotion",
        candles={("a", "BTC/USDT"): rows},
        config=config([instance("a", "BTC/USDT", 1.0, position_fraction=0.1)], protocol()),
        trades=trades,
        events=[
            Event(9, phase, {"scope": "instance", "to": "caution", "consecutive_losses": 5}, "a"),
            Event(9, phase, {"scope": "account", "to": "caution", "size_multiplier": 0.5}),
            Event(15, phase, {"scope": "instance", "to": "severe", "losses_in_window": 8}, "a"),
            Event(15, phase, {"scope": "account", "to": "severe", "min_score": 0.8}),
            Event(21, phase, {"scope": "instance", "to": "demoted", "consecutive_losses": 10}, "a"),
        ],
        refusals=[
            Event(16, "entry_refused", {"refused_by": "streak_score"}, "a"),
            Event(22, "entry_refused", {"refused_by": "streak_demoted"}, "a"),
        ],
        scores={"a": scores},
    )


def account_streak() -> Scenario:
    # a loses 5 in a row (caution for a and for the account); b, with no loss of its own,
    # enters at tick 10 under the account's phase: x 0.5 (score 0.7 > 0.6). The account's
    # and the instance's phases are one rule: a at tick 10 gets x 0.5 too, not x 0.25; its
    # 6th loss changes no phase (no event).
    enter = {t: 0 for t in (0, 2, 4, 6, 8, 10)}
    rows = losing_rows(6, enter)
    other = [bar(t, 50, 50, enter=int(t == 10)) for t in range(13)]
    trades = [
        Trade("a", "BTC/USDT", t, t + 1, "signal", size_multiplier=1.0) for t in (0, 2, 4, 6, 8)
    ]
    trades += [
        Trade("a", "BTC/USDT", 10, 11, "signal", size_multiplier=0.5),
        Trade("b", "ETH/USDT", 10, None, None, size_multiplier=0.5),
    ]
    phase = "streak_phase"
    return Scenario(
        name="the account's losing streak sizes every instance",
        candles={("a", "BTC/USDT"): rows, ("b", "ETH/USDT"): other},
        config=config(
            [
                instance("a", "BTC/USDT", 0.5, position_fraction=0.1),
                instance("b", "ETH/USDT", 0.5, position_fraction=0.1),
            ],
            protocol(),
        ),
        trades=trades,
        events=[
            Event(9, phase, {"scope": "instance", "to": "caution"}, "a"),
            Event(9, phase, {"scope": "account", "to": "caution"}),
        ],
        scores={"a": {10: 0.7}, "b": {10: 0.7}},
    )


def cooldown_lock() -> Scenario:
    # Stop 5 % below 100: bar 1 trades down to 94, the stop fills at 95 (close of bar 1 =
    # T0+2h). Cooldown 60 min -> T0+3h, which is a bar boundary: freqtrade's rounding moves
    # the end to the next one, T0+4h. The entry at the close of bar 2 (T0+3h) is refused;
    # the one at the close of bar 3 (T0+4h, not before the end) passes.
    rows = [bar(0, 100, 100, enter=1), [1, 100, 100, 94, 96, 0, 0]]
    rows += [bar(2, 96, 96, enter=1), bar(3, 96, 96, enter=1), bar(4, 96, 96)]
    return Scenario(
        name="cooldown after a stop-loss, ending on the next bar boundary",
        candles={("a", "BTC/USDT"): rows},
        config=config(
            [instance("a", "BTC/USDT", 1.0, stop_loss_pct=0.05, position_fraction=0.5)],
            protocol(protections={"rules": [{"method": "cooldown", "stop_duration": 60}]}),
        ),
        trades=[
            Trade("a", "BTC/USDT", 0, 1, "stop_loss"),
            Trade("a", "BTC/USDT", 3, None, None),
        ],
        events=[
            Event(
                1,
                "lock",
                {"rule": "cooldown", "symbol": "BTC/USDT", "until": "2024-01-01T04:00:00Z"},
                "a",
            ),
        ],
        refusals=[Event(2, "entry_refused", {"refused_by": "lock"}, "a")],
    )


def stoploss_guard_lock() -> Scenario:
    # Stops 5 %: BTC stops at tick 1 and again at tick 3. Two stops within 600 min lock the
    # whole instance (not only BTC) for 90 min after the last (T0+4h + 90 min = T0+5:30,
    # rounded up to T0+6h). The entry at the close of bar 4 (T0+5h) is refused, the one at
    # bar 5's (T0+6h) passes.
    drop = [1, 100, 100, 94, 96, 0, 0]
    rows = [bar(0, 100, 100, enter=1), drop, bar(2, 96, 100, enter=1), [3, *drop[1:]]]
    rows += [bar(4, 96, 96, enter=1), bar(5, 96, 96, enter=1), bar(6, 96, 96)]
    guard = {"method": "stoploss_guard", "lookback_period": 600, "trade_limit": 2,
             "stop_duration": 90}  # fmt: skip
    return Scenario(
        name="stoploss guard locks every symbol of the instance",
        candles={("g", "BTC/USDT"): rows},
        config=config(
            [instance("g", "BTC/USDT", 1.0, stop_loss_pct=0.05, position_fraction=0.3)],
            protocol(protections={"rules": [guard]}),
        ),
        trades=[
            Trade("g", "BTC/USDT", 0, 1, "stop_loss"),
            Trade("g", "BTC/USDT", 2, 3, "stop_loss"),
            Trade("g", "BTC/USDT", 5, None, None),
        ],
        events=[
            Event(
                3,
                "lock",
                {"rule": "stoploss_guard", "symbol": None, "until": "2024-01-01T06:00:00Z"},
                "g",
            ),
        ],
        refusals=[Event(4, "entry_refused", {"refused_by": "lock"}, "g")],
    )


def low_profit_lock() -> Scenario:
    # Two BTC trades lose 1 % each (signal exits): profit -0.02 < 0 over 2 trades within
    # 300 min locks BTC for 90 min after the second close (T0+4h + 90 min -> T0+6h). The
    # entry at the close of bar 4 (T0+5h) is refused, the one at bar 5's (T0+6h) passes.
    rows = losing_rows(2, {0: 0, 2: 0})
    rows += [bar(5, 100, 100, enter=1), bar(6, 100, 100)]
    rows[4] = bar(4, 99, 100, enter=1)
    rule = {"method": "low_profit", "lookback_period": 300, "trade_limit": 2,
            "stop_duration": 90, "required_profit": 0.0}  # fmt: skip
    return Scenario(
        name="low-profit pair lock",
        candles={("a", "BTC/USDT"): rows},
        config=config([instance("a", "BTC/USDT", 1.0)], protocol(protections={"rules": [rule]})),
        trades=[
            Trade("a", "BTC/USDT", 0, 1, "signal"),
            Trade("a", "BTC/USDT", 2, 3, "signal"),
            Trade("a", "BTC/USDT", 5, None, None),
        ],
        events=[
            Event(3, "lock", {"rule": "low_profit", "until": "2024-01-01T06:00:00Z"}, "a"),
        ],
        refusals=[Event(4, "entry_refused", {"refused_by": "lock"}, "a")],
    )


def round_trips(exits: list[float], entries: set[int] | None = None) -> list[list[float]]:
    """Trade n may enter at tick 2n (close 100) and exits at 2n + 1 at ``exits[n]``; the
    bar after it returns to 100."""
    entries = set(range(0, 2 * len(exits) + 1, 2)) if entries is None else entries
    rows = [bar(0, 100, 100, enter=int(0 in entries))]
    for n, price in enumerate(exits):
        rows.append(bar(2 * n + 1, 100, price, exit_=1))
        rows.append(bar(2 * n + 2, price, 100, enter=int(2 * n + 2 in entries)))
    return rows


def kelly_and_boost() -> Scenario:
    # Kelly over the last 4 trades, risk-based before: 2 % x equity / 10 % stop (200 of the
    # first 1000). +2 %, +2 %, +2 %, -1 % of each entry: equity ends below its peak (no
    # stage). W 0.75 and R = mean win / mean loss give Kelly W - (1 - W) / R, x edge 0.5,
    # of the instance's equity; win rate 0.75 > 0.65 over the last 4 with nothing cutting:
    # x 1.2.
    rows = round_trips([102, 102, 102, 99], {0, 2, 4, 6, 8})
    equity, sizes, pnl = 1000.0, [], []
    for move in (0.02, 0.02, 0.02, -0.01):
        sizes.append(0.02 * equity / 0.1)
        pnl.append(sizes[-1] * move)
        equity += pnl[-1]
    wins = [p for p in pnl if p > 0]
    ratio = (sum(wins) / 3) / -pnl[3]
    kelly = 0.5 * (0.75 - 0.25 / ratio) * equity * 1.2
    rule = {"kelly": {"window": 4, "min_trades": 4, "edge_factor": 0.5}, "high_win_window": 4}
    risk = {"sizing": "kelly", "risk_scale": 1.0, "stop_loss_pct": 0.1}
    return Scenario(
        name="fractional Kelly after its minimum record, the win-rate boost",
        candles={("k", "BTC/USDT"): rows},
        config=config([instance("k", "BTC/USDT", 1.0, **risk)], protocol(adaptive=rule)),
        trades=[
            *(
                Trade("k", "BTC/USDT", 2 * n, 2 * n + 1, "signal", entry_value=sizes[n])
                for n in range(4)
            ),
            Trade("k", "BTC/USDT", 8, None, None, size_multiplier=1.2, entry_value=kelly),
        ],
        events=[],
    )


def low_win_rate_until_new_high() -> Scenario:
    # 20 % of the equity per trade. +2 %, then three -1 %: 1 win in the last 4 (25 % < 45 %)
    # latches x 0.75 for trade 5, which gains 10 % (equity above the 1004 peak: the cut ends
    # at that close even though the last 4 still win 25 %); trade 6 is whole again.
    rows = round_trips([102, 99, 99, 99, 110, 100], {0, 2, 4, 6, 8, 10})
    rule = {"low_win_window": 4, "high_win_window": 50}
    return Scenario(
        name="low win rate cuts the size until a new equity high",
        candles={("w", "BTC/USDT"): rows},
        config=config(
            [instance("w", "BTC/USDT", 1.0, position_fraction=0.2)], protocol(adaptive=rule)
        ),
        trades=[
            *(
                Trade("w", "BTC/USDT", t, t + 1, "signal", size_multiplier=1.0)
                for t in range(0, 8, 2)
            ),
            Trade("w", "BTC/USDT", 8, 9, "signal", size_multiplier=0.75),
            Trade("w", "BTC/USDT", 10, 11, "signal", size_multiplier=1.0),
        ],
        events=[],
    )


def extreme_volatility() -> Scenario:
    # ATR(3) / close against its previous 5 values: bars 0-9 range 1 (flat volatility: not
    # extreme, the entry at tick 8 is whole); bar 10 ranges 8, above every previous value:
    # the entry at its close is cut x 0.6.
    rows = [[t, 100, 100.5, 99.5, 100, int(t == 8), int(t == 9)] for t in range(10)]
    rows += [[10, 100, 104, 96, 100, 1, 0], [11, 100, 100.5, 99.5, 100, 0, 0]]
    rule = {"atr_period": 3, "volatility_window": 5}
    return Scenario(
        name="extreme volatility cuts the size",
        candles={("v", "BTC/USDT"): rows},
        config=config(
            [instance("v", "BTC/USDT", 1.0, position_fraction=0.5)], protocol(adaptive=rule)
        ),
        trades=[
            Trade("v", "BTC/USDT", 8, 9, "signal", size_multiplier=1.0),
            Trade("v", "BTC/USDT", 10, None, None, size_multiplier=0.6),
        ],
        events=[],
    )


def correlation_limit() -> Scenario:
    # BTC, ETH, SOL and XRP move by the same returns; DOGE against them. At tick 6 each
    # instance enters, in configuration order: b (nothing open), e (1 correlated), s (2),
    # x is refused (3 open positions correlate 1.0 > 0.8 with XRP over the last 3 hourly
    # returns), d (correlation with each below 0.8) enters.
    moves = [1.01, 0.99, 1.02, 0.98, 1.01, 0.99]
    other = [0.99, 1.01, 1.01, 0.99, 0.98, 1.02]

    def path(base: float, factors: list[float]) -> list[list[float]]:
        prices = [base]
        for f in factors:
            prices.append(prices[-1] * f)
        rows = [bar(0, base, base)]
        rows += [bar(t, prices[t - 1], prices[t], enter=int(t == 6)) for t in range(1, 7)]
        return [*rows, bar(7, prices[6], prices[6])]

    ids = {"b": ("BTC/USDT", 100.0), "e": ("ETH/USDT", 50.0), "s": ("SOL/USDT", 20.0),
           "x": ("XRP/USDT", 0.5), "d": ("DOGE/USDT", 0.1)}  # fmt: skip
    candles = {(i, sym): path(base, other if i == "d" else moves) for i, (sym, base) in ids.items()}
    return Scenario(
        name="at most 3 open positions correlated above 0.8",
        candles=candles,
        config=config(
            [instance(i, sym, 0.2) for i, (sym, _) in ids.items()],
            protocol(correlation={"window": 3, "timeframe": "1h"}),
        ),
        trades=[
            Trade("b", "BTC/USDT", 6, None, None),
            Trade("d", "DOGE/USDT", 6, None, None),
            Trade("e", "ETH/USDT", 6, None, None),
            Trade("s", "SOL/USDT", 6, None, None),
        ],
        events=[],
        refusals=[Event(6, "entry_refused", {"refused_by": "correlation"}, "x")],
    )


def atr_stop() -> Scenario:
    # ATR(2) of bars ranging 2 is 2: the stop sits 1 x ATR below the 100 entry, at 98; bar
    # 3 trades down to 97.5: the ATR stop fills at 98.
    rows = [[t, 100, 101, 99, 100, int(t == 2), 0] for t in range(3)]
    rows += [[3, 100, 100, 97.5, 99, 0, 0], [4, 99, 99, 99, 99, 0, 0]]
    risk = {"stop": "atr", "atr_period": 2, "atr_multiple": 1.0, "stop_loss_pct": 0.05,
            "position_fraction": 0.5}  # fmt: skip
    return Scenario(
        name="ATR stop",
        candles={("t", "BTC/USDT"): rows},
        config=config([instance("t", "BTC/USDT", 1.0, **risk)], protocol()),
        trades=[Trade("t", "BTC/USDT", 2, 3, "atr_stop", exits=((3, "atr_stop", 5.0),))],
        events=[],
    )


def time_stop() -> Scenario:
    # No move of 2 % within 3 hours: the entry at tick 0 (T0+1h) exits at the close of bar
    # 3 (T0+4h) at 100.8. The entry at tick 5 has moved 3 % by the close of bar 8: it stays.
    rows = [bar(0, 100, 100, enter=1), bar(1, 100, 100.5), bar(2, 100.5, 101), bar(3, 101, 100.8)]
    rows += [bar(4, 100.8, 100), bar(5, 100, 100, enter=1), bar(6, 100, 103)]
    rows += [bar(7, 103, 103), bar(8, 103, 103), bar(9, 103, 103)]
    return Scenario(
        name="time stop",
        candles={("t", "BTC/USDT"): rows},
        config=config(
            [instance("t", "BTC/USDT", 1.0, position_fraction=0.5)],
            protocol(exits={"time_stop": {"hours": 3, "min_move": 0.02}}),
        ),
        trades=[
            Trade("t", "BTC/USDT", 0, 3, "time_stop"),
            Trade("t", "BTC/USDT", 5, None, None),
        ],
        events=[],
    )


TIER_ROWS = [
    bar(0, 100, 100, enter=1),
    [1, 100, 106, 100, 104, 0, 0],
    [2, 104, 112, 104, 111, 0, 0],
    [3, 111, 125, 111, 124, 0, 0],
    [4, 124, 124, 118, 119, 0, 0],
    [5, 119, 119, 119, 119, 0, 0],
]


def tiered_take_profit() -> Scenario:
    # 500 at 100 (5 units). 30 % (1.5) at 105 in bar 1, 1.5 at 110 in bar 2, 1.5 at 120 in
    # bar 3; the last 0.5 trails 5 % below the highest high (125 after bar 3): 118.75,
    # which bar 4 trades through.
    tp = {"take_profit": {"enabled": True}}
    return Scenario(
        name="tiered take-profit, the rest on a trailing stop",
        candles={("p", "BTC/USDT"): TIER_ROWS},
        config=config([instance("p", "BTC/USDT", 1.0, position_fraction=0.5)], protocol(exits=tp)),
        trades=[
            Trade(
                "p",
                "BTC/USDT",
                0,
                4,
                "trailing_stop",
                exits=(
                    (1, "take_profit_1", 1.5),
                    (2, "take_profit_2", 1.5),
                    (3, "take_profit_3", 1.5),
                    (4, "trailing_stop", 0.5),
                ),
            ),
        ],
        events=[],
    )


def partial_exit_below_the_minimum() -> Scenario:
    # 100 at 100 (1 unit), minimum exit 40: tier 1 (0.3 x 105 = 31.5) merges into tier 2
    # (0.6 at 110 = 66); tier 3 (0.3 x 120 = 36) merges into the trailing stop (0.4).
    tp = {"take_profit": {"enabled": True}, "min_exit_notional": 40}
    return Scenario(
        name="a partial exit below the exchange minimum merges into the next one",
        candles={("p", "BTC/USDT"): TIER_ROWS},
        config=config([instance("p", "BTC/USDT", 1.0, position_fraction=0.1)], protocol(exits=tp)),
        trades=[
            Trade(
                "p",
                "BTC/USDT",
                0,
                4,
                "trailing_stop",
                exits=((2, "take_profit_2", 0.6), (4, "trailing_stop", 0.4)),
            ),
        ],
        events=[],
    )


RULE_SCENARIOS = [
    losing_streaks,
    account_streak,
    cooldown_lock,
    stoploss_guard_lock,
    low_profit_lock,
    kelly_and_boost,
    low_win_rate_until_new_high,
    extreme_volatility,
    correlation_limit,
    atr_stop,
    time_stop,
    tiered_take_profit,
    partial_exit_below_the_minimum,
]


@pytest.mark.parametrize("build", RULE_SCENARIOS, ids=[s.__name__ for s in RULE_SCENARIOS])
def test_rule_in_backtester(build, scripted) -> None:
    scenario = build()
    assert_outcome(scenario, run_in_backtester(scenario))


@pytest.mark.parametrize("build", RULE_SCENARIOS, ids=[s.__name__ for s in RULE_SCENARIOS])
def test_rule_in_paper_executor(build, scripted, tmp_path: Path) -> None:
    scenario = build()
    paper = run_in_paper_executor(scenario, tmp_path)
    assert_outcome(scenario, paper)
    assert decisions(paper) == decisions(run_in_backtester(scenario))


def without(scenario: Scenario, **protocol_changes: Any) -> Scenario:
    tree = dict(scenario.config)
    tree["protocol"] = {**tree["protocol"], **protocol_changes}
    return Scenario(
        scenario.name, scenario.candles, tree, scenario.trades, scenario.events,
        scenario.refusals, scenario.scores,
    )  # fmt: skip


OFF: dict[str, dict[str, Any]] = {
    "losing_streaks": {"streaks": {"enabled": False}},
    "account_streak": {"streaks": {"enabled": False}},
    "cooldown_lock": {"protections": {"rules": []}},
    "stoploss_guard_lock": {"protections": {"rules": []}},
    "low_profit_lock": {"protections": {"rules": []}},
    "kelly_and_boost": {"adaptive": {"enabled": False}},
    "low_win_rate_until_new_high": {"adaptive": {"enabled": False}},
    "extreme_volatility": {"adaptive": {"enabled": False}},
    "correlation_limit": {"correlation": {"enabled": False}},
    "atr_stop": {"exits": {}},  # below: the percent stop instead
    "time_stop": {"exits": {}},
    "tiered_take_profit": {"exits": {}},
    "partial_exit_below_the_minimum": {"exits": {"take_profit": {"enabled": True}}},
}


@pytest.mark.parametrize("build", RULE_SCENARIOS, ids=[s.__name__ for s in RULE_SCENARIOS])
def test_each_table_fails_without_its_rule(build, scripted) -> None:
    """The tables are not vacuous: with the rule off, the expected outcome is not met."""
    scenario = without(build(), **OFF[build.__name__])
    if build is atr_stop:
        inst = {**scenario.config["strategies"][0]}
        inst["risk"] = {**inst["risk"], "stop": "percent"}
        scenario = Scenario(scenario.name, scenario.candles,
                            {**scenario.config, "strategies": [inst]}, scenario.trades,
                            scenario.events)  # fmt: skip
    with pytest.raises(AssertionError):
        assert_outcome(scenario, run_in_backtester(scenario))


@pytest.mark.parametrize("restart_after", [1, 2, 3])
def test_a_restart_resumes_the_tiers_from_the_ledger(
    restart_after: int, scripted, tmp_path: Path
) -> None:
    """The exit plan and its progress come from the ledger: an executor restarted between
    two tiers takes the same exits."""
    scenario = tiered_take_profit()
    paper = run_in_paper_executor(scenario, tmp_path, restart_after=restart_after)
    assert_outcome(scenario, paper)
