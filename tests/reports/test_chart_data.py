"""The data behind the charts, and the charts drawn from it (the equity line is drawn)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tests.reports import journals
from trading_core.reports import charts
from trading_core.reports.chart_data import (
    ReportDataError,
    equity_drawdown,
    exposure,
    instance_of,
    instance_pnl_per_day,
    instance_summary,
    pnl_per_day,
)
from trading_core.reports.window import window_for, windows_ending_on


def test_equity_drawdown_tracks_the_running_peak() -> None:
    eq = equity_drawdown(journals.curve())
    assert eq["equity"].tolist() == pytest.approx(journals.curve()["equity"].tolist())
    last = eq.iloc[-1]
    assert last["peak"] == pytest.approx(520.0)
    assert last["drawdown"] == pytest.approx(1 - 490 / 520)
    assert eq["drawdown"].iloc[:48].max() == 0.0  # rising: never below its peak


def test_the_equity_chart_draws_the_equity_line_and_its_drawdown() -> None:
    eq = equity_drawdown(journals.curve())
    fig = charts.equity_figure(eq, window_for("daily", journals.DAY))
    top, bottom = fig.axes
    lines = {line.get_label(): line for line in top.lines}
    assert np.allclose(lines["paper equity"].get_ydata(), eq["equity"])
    assert np.allclose(lines["paper peak"].get_ydata(), eq["peak"])
    (dd,) = bottom.lines
    assert np.allclose(dd.get_ydata(), -100 * eq["drawdown"])
    png = charts.png(fig)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_the_pnl_chart_stacks_each_instance() -> None:
    window = window_for("daily", journals.DAY)
    per_day = instance_pnl_per_day(journals.journal())
    by_instance = per_day.set_index("instance")["realized_pnl_net"]
    assert by_instance.to_dict() == pytest.approx({"macd": -20.1, "manual": 5.0})
    days = pnl_per_day(journals.daily(), window.end - pd.Timedelta(days=30), window.end)
    fig = charts.pnl_figure(days, per_day, window)
    top, bottom = fig.axes
    assert [p.get_height() for p in top.containers[0]] == pytest.approx(days["pnl"].tolist())
    heights = sorted(p.get_height() for bars in bottom.containers for p in bars)
    assert heights == pytest.approx([-20.1, 5.0])
    assert charts.png(fig).startswith(b"\x89PNG")


def test_instances_come_from_an_instance_column_else_the_strategy() -> None:
    frame = pd.DataFrame({"strategy": ["macd", None, "macd"], "instance": ["a", None, None]})
    assert instance_of(frame).tolist() == ["a", "unattributed", "macd"]
    assert instance_of(pd.DataFrame({"x": [1]})).tolist() == ["unattributed"]
    # the dbt journal models name the column instance_id
    journal = pd.DataFrame({"strategy": ["macd", "grid"], "instance_id": ["btc-4h", None]})
    assert instance_of(journal).tolist() == ["btc-4h", "grid"]


def test_instance_summary_counts_closed_trades_only() -> None:
    summary = instance_summary(journals.trades()).set_index("instance")
    assert summary.loc["macd", "trades"] == 3 and summary.loc["macd", "wins"] == 1
    assert summary.loc["macd", "realized_pnl_net"] == pytest.approx(-20.0)
    assert summary.loc["manual", "win_rate"] == 1.0


def test_a_trade_with_an_unvalued_fee_is_counted_not_summed() -> None:
    trades = journals.trades()
    trades.loc[0, "realized_pnl_net"] = None
    summary = instance_summary(trades).set_index("instance")
    assert summary.loc["macd", "unvalued"] == 1
    assert summary.loc["macd", "realized_pnl_net"] == pytest.approx(-5.0)


def test_a_blown_account_is_a_drawdown_past_100_percent() -> None:
    curve = journals.curve()
    curve.loc[curve.index[-1], "equity"] = -26.0
    assert equity_drawdown(curve)["drawdown"].iloc[-1] == pytest.approx(1 + 26 / 520)
    curve["equity"] = 0.0
    with pytest.raises(ReportDataError, match=r"fct_equity_curve\.equity must have been > 0"):
        equity_drawdown(curve)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "x", None])
def test_a_bad_equity_value_names_the_column(bad) -> None:
    curve = journals.curve().astype({"equity": object})
    curve.loc[3, "equity"] = bad
    with pytest.raises(ReportDataError, match=r"fct_equity_curve\.equity"):
        equity_drawdown(curve)


def test_duplicate_instants_are_refused() -> None:
    curve = pd.concat([journals.curve(), journals.curve().tail(1)])
    with pytest.raises(ReportDataError, match=r"duplicate \(mode, as_of\)"):
        equity_drawdown(curve)


def test_missing_columns_and_wrong_types_are_named() -> None:
    with pytest.raises(ReportDataError, match=r"fct_daily_pnl lacks column\(s\) \['pnl'\]"):
        pnl_per_day(journals.daily().drop(columns="pnl"), journals.T0, journals.T0)
    with pytest.raises(ReportDataError, match="must be a DataFrame"):
        equity_drawdown([1, 2])  # type: ignore[arg-type]
    journal = journals.journal()
    journal.loc[0, "realized_pnl_net"] = math.inf
    with pytest.raises(ReportDataError, match=r"fct_trade_journal\.realized_pnl_net"):
        instance_pnl_per_day(journal)


def test_an_empty_history_still_draws() -> None:
    eq = equity_drawdown(journals.curve().iloc[0:0])
    assert eq.empty
    window = window_for("daily", journals.DAY)
    assert charts.png(charts.equity_figure(eq, window)).startswith(b"\x89PNG")
    assert charts.png(charts.positions_figure(exposure(journals.positions().iloc[0:0])))


def test_windows_state_their_bounds() -> None:
    week = window_for("weekly", date(2025, 3, 5))
    assert (week.first_day, week.last_day, week.label) == (
        date(2025, 3, 3), date(2025, 3, 9), "2025-W10"
    )  # fmt: skip
    month = window_for("monthly", date(2024, 2, 10))
    assert (month.last_day, month.days) == (date(2024, 2, 29), 29)
    assert "end excluded" in month.describe()
    assert [w.period for w in windows_ending_on(date(2025, 3, 9))] == ["daily", "weekly"]
    assert [w.period for w in windows_ending_on(date(2025, 3, 31))] == ["daily", "monthly"]
    with pytest.raises(ValueError, match="period must be one of"):
        window_for("yearly", date(2025, 1, 1))
