"""The drift report on paper: its tables and findings, the standalone Markdown of
``reports/drift``, and the section it adds to the daily report."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from trading_core.reports.drift_run import CONVENTIONS, DriftReport
from trading_core.reports.render import ReportContent
from trading_core.reports.rules import Finding, headline

SUMMARY_COLUMNS = [
    "instance", "live_trades", "backtest_trades", "matched", "missed", "extra",
    "mean_entry_slippage_bps", "mean_entry_diff_bps", "mean_exit_diff_bps", "fee_diff",
    "pnl_diff", "pnl_diff_pct", "equity", "breaches",
]  # fmt: skip
TRADE_COLUMNS = [
    "instance", "symbol", "signal_bar", "status", "cause", "live_entry", "backtest_entry",
    "entry_diff_bps", "entry_cause", "live_exit", "backtest_exit", "exit_diff_bps",
    "exit_cause", "fee_diff", "live_pnl", "backtest_pnl", "pnl_diff",
]  # fmt: skip
SUMMARY_TITLE = "Drift against the backtest (per instance)"
TRADES_TITLE = "Drift, trade by trade (with the likely cause)"


def summary_table(report: DriftReport) -> pd.DataFrame:
    rows = [
        {**s.to_dict(), "breaches": "; ".join(s.breaches) or "within bounds"}
        for s in report.summaries
    ]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def trades_table(report: DriftReport) -> pd.DataFrame:
    """The trades that differ (every missed and extra one, matched ones with a cause)."""
    rows = report.rows
    if rows.empty:
        return pd.DataFrame(columns=TRADE_COLUMNS)
    differs = (rows["status"] != "matched") | rows["cause"].notna()
    return rows.loc[differs, TRADE_COLUMNS].reset_index(drop=True)


def findings(report: DriftReport) -> list[Finding]:
    return [
        Finding(
            "warning",
            "drift_bounds",
            f"Instance {s.instance} drifted from its backtest: {'; '.join(s.breaches)}.",
            "Read the trades' causes in the drift section: expired or rejected intents point "
            "at the executor's limits, late fills at the evaluation path's latency, slippage "
            "at the order sizes against the book.",
        )
        for s in report.breached
    ]


def with_drift(content: ReportContent, report: DriftReport) -> ReportContent:
    """The daily report with the drift section (two tables) and a finding per instance
    out of bounds; the headline is written again from every finding."""
    found = [*content.findings, *findings(report)]
    tables = [
        *content.tables,
        (SUMMARY_TITLE, summary_table(report), "no configured instance traded in the window"),
        (TRADES_TITLE, trades_table(report), "every trade as the backtest would have made it"),
    ]
    notes = [*content.notes, *(f"drift: {n}" for n in report.notes)]
    return replace(content, findings=found, headline=headline(found), tables=tables, notes=notes)


def table_markdown(frame: pd.DataFrame) -> str:
    """A table with its missing values shown as a dash (a missed trade has no live price)."""
    shown = frame.astype(object).where(frame.notna(), None)
    return str(shown.to_markdown(index=False, floatfmt=".6g", missingval="—"))


def markdown(report: DriftReport) -> str:
    """``reports/drift``'s own file."""
    lines = [f"# Drift report — {report.window}", ""]
    lines += [f"_Mode: {report.mode or 'no fills yet'}._", ""]
    breached = report.breached
    lines += [
        f"**{len(breached)} instance(s) out of bounds.**" if breached else "**Within bounds.**",
        "",
    ]
    for title, frame, empty in (
        (SUMMARY_TITLE, summary_table(report), "no configured instance traded in the window"),
        (TRADES_TITLE, trades_table(report), "every trade as the backtest would have made it"),
    ):
        lines += [f"## {title}", ""]
        lines += [table_markdown(frame) if len(frame) else f"_{empty}_"]
        lines += [""]
    lines += ["## Conventions", "", CONVENTIONS, ""]
    lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines).rstrip() + "\n"
