"""Assemble a report from the journal tables: chart data, charts, rule findings, the optional
LLM summary, tables; no I/O (the Dagster asset reads the tables and writes the files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from trading_core.config_protocol import DEFAULT_STAGES, DrawdownStageConfig
from trading_core.reports import charts
from trading_core.reports.chart_data import (
    equity_drawdown,
    exposure,
    instance_of,
    instance_pnl_per_day,
    instance_summary,
    pnl_per_day,
)
from trading_core.reports.llm import SummaryProvider, llm_summary, prompt_for
from trading_core.reports.render import Chart, ReportContent
from trading_core.reports.rules import ReportFacts, findings, headline
from trading_core.reports.window import ReportWindow

# The P&L chart shows at least this many days up to the window's end, for context.
CONTEXT_DAYS = 30
TRADE_COLUMNS = [
    "opened_at", "closed_at", "instance", "symbol", "direction", "entry_price", "exit_price",
    "realized_pnl_net", "exit_reason", "holding_hours", "mfe", "mae", "entry_action",
    "entry_score", "regime",
]  # fmt: skip
FILL_COLUMNS = [
    "event_time", "mode", "instance", "symbol", "side", "quantity", "price", "fee",
    "fee_currency", "fee_quote", "realized_pnl_gross", "realized_pnl_net", "role",
    "slippage_bps",
]  # fmt: skip
POSITION_COLUMNS = [
    "mode", "instance", "exchange", "symbol", "quantity", "average_cost", "mark_price",
    "marked_at", "market_value", "unrealized_pnl",
]  # fmt: skip


@dataclass(frozen=True)
class ReportInputs:
    """The journal tables a report reads: ``curve`` (fct_equity_curve up to the window's
    end), ``daily`` (fct_daily_pnl up to the end), ``journal`` (fct_trade_journal rows in the
    window), ``trades`` (fct_trades rows closed in the window or still open), ``positions``
    (fct_positions now)."""

    curve: pd.DataFrame
    daily: pd.DataFrame
    journal: pd.DataFrame
    trades: pd.DataFrame
    positions: pd.DataFrame
    newest_candle_at: datetime | None = None
    alerts: Sequence[Mapping[str, Any]] = ()
    backtest_pnl_per_day: Mapping[str, float] = field(default_factory=dict)
    stages: Sequence[DrawdownStageConfig] = DEFAULT_STAGES


@dataclass(frozen=True)
class BuiltReport:
    content: ReportContent
    equity: pd.DataFrame  # the data behind the equity chart (the context days)
    numbers: dict[str, Any]  # the headline numbers (asset metadata, LLM prompt)


def _with_instance(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(instance=instance_of(frame)) if len(frame.columns) else frame


def _pick(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame[[c for c in columns if c in frame.columns]]


def _closed_in(trades: pd.DataFrame, window: ReportWindow) -> pd.DataFrame:
    if trades.empty or "closed_at" not in trades.columns:
        return trades.iloc[0:0]
    closed_at = pd.to_datetime(trades["closed_at"])
    inside = trades["is_closed"].astype(bool) & (closed_at >= window.start)
    return trades[inside & (closed_at < window.end)]


def build_report(
    window: ReportWindow,
    inputs: ReportInputs,
    *,
    generated_at: datetime,
    conventions: str,
    provider: SummaryProvider | None = None,
) -> BuiltReport:
    equity = equity_drawdown(inputs.curve)
    equity = equity[equity["as_of"] <= pd.Timestamp(window.end)]
    context_start = min(window.start, window.end - timedelta(days=CONTEXT_DAYS))
    # the peak comes from the whole history; the chart shows the context days only
    shown = equity[equity["as_of"] >= pd.Timestamp(context_start)]
    days = pnl_per_day(inputs.daily, context_start, window.end)
    journal = _with_instance(inputs.journal)
    per_instance_day = instance_pnl_per_day(journal)
    closed = _with_instance(_closed_in(inputs.trades, window))
    summary = instance_summary(closed)
    positions = _with_instance(inputs.positions)
    unvalued = 0
    if "fee_unvalued" in journal.columns:
        unvalued = int(journal["fee_unvalued"].fillna(False).astype(bool).sum())
    in_window = days[days["day"] >= pd.Timestamp(window.start)]
    facts = ReportFacts(
        window=window,
        equity=equity,
        days=in_window,
        instances=summary,
        trades=closed,
        positions=positions,
        generated_at=generated_at,
        stages=inputs.stages,
        newest_candle_at=inputs.newest_candle_at,
        alerts=inputs.alerts,
        backtest_pnl_per_day=inputs.backtest_pnl_per_day,
        fees_unvalued=unvalued,
    )
    found = findings(facts)
    last_equity = equity.groupby("mode")["equity"].last() if len(equity) else pd.Series()
    numbers: dict[str, Any] = {
        "window": window.describe(),
        "pnl": float(in_window["pnl"].sum()),
        "equity": {str(k): float(v) for k, v in last_equity.items()} or None,
        "max_drawdown": float(
            equity[equity["as_of"] > pd.Timestamp(window.start)]["drawdown"].max()
        )
        if (equity["as_of"] > pd.Timestamp(window.start)).any()
        else None,
        "fills": len(journal),
        "closed_trades": len(closed),
        "open_positions": len(positions),
        "instances": sorted(set(summary["instance"]) | set(positions.get("instance", []))),
    }
    llm = llm_summary(provider, prompt_for(window.describe(), numbers, found))
    trades_table = (
        closed.assign(
            holding_hours=pd.to_numeric(closed.get("holding_seconds"), errors="coerce") / 3600.0
        )
        if len(closed)
        else closed
    )
    label = f"{window.period}_{window.label}"
    content = ReportContent(
        window=window,
        headline=headline(found),
        findings=found,
        charts=[
            Chart(
                f"{label}_equity.png",
                "Equity and drawdown",
                charts.png(charts.equity_figure(shown, window, context_start)),
            ),
            Chart(
                f"{label}_pnl.png",
                "P&L per day and per instance",
                charts.png(charts.pnl_figure(days, per_instance_day, window, context_start)),
            ),
            Chart(
                f"{label}_positions.png",
                "Open positions",
                charts.png(charts.positions_figure(exposure(positions))),
            ),
        ],
        tables=[
            ("Instances (closed trades in the window)", summary, "no trade closed"),
            (
                "P&L per day",
                in_window.assign(day=in_window["day"].dt.date),
                "no day in the window has equity yet",
            ),
            (
                "Trades closed in the window, with reasons",
                _pick(trades_table, TRADE_COLUMNS),
                "no trade closed in the window",
            ),
            ("Fills", _pick(journal, FILL_COLUMNS), "no fill in the window"),
            ("Open positions (now)", _pick(positions, POSITION_COLUMNS), "flat"),
        ],
        conventions=conventions,
        generated_at=f"{generated_at:%Y-%m-%d %H:%M:%S}",
        llm=llm,
    )
    return BuiltReport(content, shown, numbers)
