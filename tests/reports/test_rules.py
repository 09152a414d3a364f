"""The summary and recommendations written by rules, on hand-made journals (see journals.py)."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
import pytest

from tests.reports import journals
from trading_core.reports.build import ReportInputs, build_report
from trading_core.reports.rules import RULES, Finding, ReportFacts, findings, headline
from trading_core.reports.window import window_for

WINDOW = window_for("daily", journals.DAY)
END = WINDOW.end


def inputs(**changes) -> ReportInputs:
    base = ReportInputs(
        curve=journals.curve(),
        daily=journals.daily(),
        journal=journals.journal(),
        trades=journals.trades(),
        positions=journals.positions(),
        newest_candle_at=END - timedelta(minutes=30),
    )
    return replace(base, **changes)


def _found(**changes) -> dict[str, list[Finding]]:
    built = build_report(WINDOW, inputs(**changes), generated_at=END, conventions="c")
    out: dict[str, list[Finding]] = {}
    for f in built.content.findings:
        out.setdefault(f.code, []).append(f)
    return out


@functools.cache
def _baseline() -> dict[str, tuple[Finding, ...]]:
    """The findings on the unchanged journals: several tests read them, and a report build
    renders its charts (about half a second of CPU), so it is built once per module."""
    return {code: tuple(items) for code, items in _found().items()}


def found(**changes) -> dict[str, list[Finding]]:
    """The report's findings by code, on the journals with ``changes`` (frozen Findings; the
    unchanged report's are built once and handed out as fresh lists)."""
    if not changes:
        return {code: list(items) for code, items in _baseline().items()}
    return _found(**changes)


def test_what_happened_states_the_equity_change_and_each_instance() -> None:
    by_code = found()
    (equity,) = by_code["equity"]
    # 03-03 starts at the 03-03 00:00 point (hour 48 = 520) and ends at 490
    assert "from 520.00 to 490.00 (-30.00, -5.77%)" in equity.text
    texts = [f.text for f in by_code["instance"]]
    assert texts[0].startswith("Instance macd: 3 closed trade(s), 1 won (win rate 33%), net -20.00")
    assert texts[1].startswith(
        "Instance manual: 1 closed trade(s), 1 won (win rate 100%), net +5.00"
    )


def test_a_drawdown_past_5_percent_is_stage_1_with_a_recommendation() -> None:
    (stage,) = found()["drawdown_stage"]
    assert stage.level == "warning"
    assert "5.77% below its peak of 520.00: drawdown stage 1 (5 %, WARNING" in stage.text
    assert stage.recommendation


def test_a_deeper_drawdown_is_critical() -> None:
    curve = journals.curve()
    curve.loc[curve.index[-1], "equity"] = 520 * 0.88  # 12 % below the peak
    (stage,) = found(curve=curve)["drawdown_stage"]
    assert stage.level == "critical" and "stage 2 (10 %, CRITICAL" in stage.text


def test_no_drawdown_stage_while_at_the_peak() -> None:
    curve = journals.curve().head(48)
    assert "drawdown_stage" not in found(curve=curve, daily=journals.daily().head(2))


def test_two_stops_out_of_four_trades_is_not_flagged_three_of_four_is() -> None:
    assert "stop_losses" not in found()
    trades = journals.trades()
    trades.loc[2, "exit_reason"] = "stop_loss"
    (stops,) = found(trades=trades)["stop_losses"]
    assert "75% of the 4 closed trades ended at their stop-loss" in stops.text


def test_an_instance_below_its_backtest_is_flagged() -> None:
    by_code = found(backtest_pnl_per_day={"macd": 4.0, "manual": 6.0})
    (below,) = by_code["below_backtest"]  # manual made 5 of 6 expected: within tolerance
    assert below.text.startswith("Instance macd made -20.00 against +4.00 expected")
    assert "below_backtest" not in found(backtest_pnl_per_day={"macd": float("nan")})


def test_a_stale_feed_is_flagged() -> None:
    assert "stale_feed" not in found()
    (stale,) = found(newest_candle_at=END - timedelta(hours=5))["stale_feed"]
    assert "5.0 h before this report" in stale.text


def test_drift_and_severe_alerts_are_reported() -> None:
    alerts = [
        {"at": "2025-03-03T10:00:00", "severity": "warning", "title": "signal drift BTC/USDT",
         "message": "live vs backtest"},
        {"at": "2025-03-03T11:00:00", "severity": "critical", "title": "exchange down",
         "message": "binance unreachable"},
    ]  # fmt: skip
    by_code = found(alerts=alerts)
    assert "1 drift alert(s) in the window: signal drift BTC/USDT" in by_code["drift"][0].text
    assert by_code["severe_alerts"][0].level == "critical"


def test_unvalued_fees_are_counted() -> None:
    journal = journals.journal()
    journal.loc[1, "fee_unvalued"] = True
    (fees,) = found(journal=journal)["unvalued_fees"]
    assert fees.text.startswith("1 fill(s) paid a fee that could not be valued")


def test_an_empty_day_says_so_and_nothing_is_off() -> None:
    empty = journals.curve().iloc[0:0]
    built = build_report(
        WINDOW,
        inputs(curve=empty, daily=journals.daily().iloc[0:0], journal=journals.journal().iloc[0:0],
               trades=journals.trades().iloc[0:0], positions=journals.positions().iloc[0:0]),
        generated_at=END, conventions="c",
    )  # fmt: skip
    texts = [f.text for f in built.content.findings]
    assert "No equity curve yet: no fills have been made." in texts
    assert "No position was closed in the window." in texts
    assert built.content.headline == "Nothing is off."


def test_the_headline_counts_what_is_off_and_the_worst_level() -> None:
    assert headline([Finding("info", "a", "x")]) == "Nothing is off."
    mixed = [Finding("warning", "a", "x"), Finding("critical", "b", "y")]
    assert headline(mixed) == "2 thing(s) need attention (worst: critical)."


def test_a_new_rule_plugs_into_the_rule_set() -> None:
    def always(facts: ReportFacts) -> list[Finding]:
        return [Finding("info", "custom", f"{facts.window.label} checked")]

    facts = ReportFacts(
        window=WINDOW, equity=pd.DataFrame(columns=["mode", "as_of", "equity", "peak", "drawdown"]),
        days=pd.DataFrame(), instances=pd.DataFrame(columns=["instance", "realized_pnl_net"]),
        trades=pd.DataFrame(), positions=pd.DataFrame(), generated_at=datetime(2025, 3, 4),
    )  # fmt: skip
    out = findings(facts, (*RULES, always))
    assert out[-1].text == "2025-03-03 checked"


# 2025-03-03 is a Monday: its week holds only 03-03 (-30); its month 03-01..03 (+10 +10 -30)
@pytest.mark.parametrize(("period", "pnl"), [("weekly", -30.0), ("monthly", -10.0)])
def test_weekly_and_monthly_windows_sum_their_days(period: str, pnl: float) -> None:
    window = window_for(period, journals.DAY)
    built = build_report(window, inputs(), generated_at=window.end, conventions="c")
    assert built.numbers["pnl"] == pytest.approx(pnl)
    assert built.content.title.startswith(period.capitalize())
