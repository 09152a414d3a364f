"""The plain-language summary and recommendations of a report, written from the numbers by
rules. A rule is a pure function of :class:`ReportFacts` returning findings; ``RULES`` is the
rule set, in reading order. A new source of facts (a new table, a new alert kind) adds a field
to ``ReportFacts`` (optional, defaulting to "unknown") and a rule: a rule whose facts are
unknown says nothing."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import pandas as pd

from trading_core.config_protocol import DEFAULT_STAGES, DrawdownStageConfig
from trading_core.protocol.drawdown import stage_for
from trading_core.reports.window import ReportWindow

Level = Literal["info", "warning", "critical"]
LEVEL_ORDER: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
# Stop-loss exits above this share of at least STOP_SHARE_MIN_TRADES closed trades: warn.
STOP_SHARE = 0.5
STOP_SHARE_MIN_TRADES = 3
# An instance is below its backtest when its P&L misses the expected P&L by more than this
# fraction of the expected amount (and the expectation is positive).
BACKTEST_TOLERANCE = 0.5
STALE_AFTER = timedelta(hours=2)


@dataclass(frozen=True)
class Finding:
    level: Level
    code: str
    text: str
    recommendation: str | None = None


@dataclass(frozen=True)
class ReportFacts:
    """What a report knows. ``equity``: ``equity_drawdown`` of the curve up to the window's
    end; ``instances``: ``instance_summary`` of the trades closed in the window; ``trades``:
    those trades (fct_trades rows); the rest may be unknown (None / empty)."""

    window: ReportWindow
    equity: pd.DataFrame
    days: pd.DataFrame  # pnl_per_day of the window: the equity change per day and mode
    instances: pd.DataFrame
    trades: pd.DataFrame
    positions: pd.DataFrame
    generated_at: datetime
    stages: Sequence[DrawdownStageConfig] = DEFAULT_STAGES
    newest_candle_at: datetime | None = None
    stale_after: timedelta = STALE_AFTER
    alerts: Sequence[Mapping[str, Any]] = ()
    # expected realized P&L per day (quote) of each instance from its backtest
    backtest_pnl_per_day: Mapping[str, float] = field(default_factory=dict)
    fees_unvalued: int = 0


Rule = Callable[[ReportFacts], list[Finding]]


def _money(value: float) -> str:
    return f"{value:+,.2f}"


def _window_equity(facts: ReportFacts) -> pd.DataFrame:
    """Per mode: equity at the window's end and at its start (end minus the days' P&L, which
    counts from the starting cash on the first day; without days, the last instant before
    the window), the deepest drawdown inside it and the drawdown at its end."""
    eq = facts.equity
    rows = []
    start = pd.Timestamp(facts.window.start)
    for mode, series in eq.groupby("mode", sort=True):
        before = series[series["as_of"] <= start]
        inside = series[series["as_of"] > start]
        if inside.empty:
            continue
        first = before.iloc[-1] if len(before) else inside.iloc[0]
        last = inside.iloc[-1]
        days = facts.days[facts.days["mode"] == mode] if len(facts.days) else facts.days
        change = float(days["pnl"].sum()) if len(days) else last["equity"] - first["equity"]
        rows.append(
            {
                "mode": mode,
                "start_equity": float(last["equity"]) - change,
                "end_equity": float(last["equity"]),
                "max_drawdown": float(inside["drawdown"].max()),
                "end_drawdown": float(last["drawdown"]),
                "peak": float(last["peak"]),
            }
        )
    return pd.DataFrame(rows)


def what_happened(facts: ReportFacts) -> list[Finding]:
    out: list[Finding] = []
    for row in _window_equity(facts).itertuples():
        change = row.end_equity - row.start_equity
        out.append(
            Finding(
                "info",
                "equity",
                f"{row.mode}: equity went from {row.start_equity:,.2f} to "
                f"{row.end_equity:,.2f} ({_money(change)}"
                f"{f', {change / row.start_equity:+.2%}' if row.start_equity > 0 else ''}); "
                "deepest drawdown in the window "
                f"{row.max_drawdown:.2%}; at the end {row.end_drawdown:.2%} below the peak of "
                f"{row.peak:,.2f}.",
            )
        )
    if facts.equity.empty:
        out.append(Finding("info", "equity", "No equity curve yet: no fills have been made."))
    inst = facts.instances
    if inst.empty:
        out.append(Finding("info", "trades", "No position was closed in the window."))
    for row in inst.itertuples():
        rate = "n/a" if math.isnan(row.win_rate) else f"{row.win_rate:.0%}"
        out.append(
            Finding(
                "info",
                "instance",
                f"Instance {row.instance}: {row.trades} closed trade(s), {row.wins} won "
                f"(win rate {rate}), net {_money(row.realized_pnl_net)}; best "
                f"{_money(row.best)}, worst {_money(row.worst)}.",
            )
        )
    open_positions = len(facts.positions)
    if open_positions:
        out.append(Finding("info", "positions", f"{open_positions} position(s) open now."))
    return out


def drawdown_stage(facts: ReportFacts) -> list[Finding]:
    out: list[Finding] = []
    stages = list(facts.stages)
    for row in _window_equity(facts).itertuples():
        stage = stage_for(row.end_drawdown, stages)
        if stage == 0:
            continue
        config = stages[stage - 1]
        level: Level = "warning" if config.level in ("INFO", "WARNING") else "critical"
        out.append(
            Finding(
                level,
                "drawdown_stage",
                f"{row.mode}: equity is {row.end_drawdown:.2%} below its peak of "
                f"{row.peak:,.2f}: drawdown stage {stage} ({config.pct:g} %, "
                f"{config.level}, position size x {config.size_multiplier:g}).",
                "Review the losing instances before sizes are restored; the risk protocol "
                "keeps the reduced size until equity recovers.",
            )
        )
    return out


def below_backtest(facts: ReportFacts) -> list[Finding]:
    out: list[Finding] = []
    actual = dict(
        zip(facts.instances["instance"], facts.instances["realized_pnl_net"], strict=True)
    )
    for instance, per_day in sorted(facts.backtest_pnl_per_day.items()):
        if not math.isfinite(per_day) or per_day <= 0:
            continue
        expected = per_day * facts.window.days
        got = float(actual.get(instance, 0.0))
        if got < expected * (1.0 - BACKTEST_TOLERANCE):
            out.append(
                Finding(
                    "warning",
                    "below_backtest",
                    f"Instance {instance} made {_money(got)} against {_money(expected)} "
                    f"expected from its backtest ({per_day:,.2f} a day over "
                    f"{facts.window.days} day(s)).",
                    f"Check {instance}'s fills against the backtest (slippage, missed "
                    "signals, regime) before giving it more capital.",
                )
            )
    return out


def stale_feed(facts: ReportFacts) -> list[Finding]:
    if facts.newest_candle_at is None:
        return []
    age = facts.generated_at - facts.newest_candle_at
    if age <= facts.stale_after:
        return []
    return [
        Finding(
            "warning",
            "stale_feed",
            f"The newest candle closed at {facts.newest_candle_at:%Y-%m-%d %H:%M} UTC, "
            f"{age.total_seconds() / 3600:.1f} h before this report: the market feed is "
            "stale, positions are marked to old prices.",
            "Check the ingest runs of raw/ohlcv and the exchange connection.",
        )
    ]


def alerts_seen(facts: ReportFacts) -> list[Finding]:
    out: list[Finding] = []
    drift = [a for a in facts.alerts if "drift" in f"{a.get('title')} {a.get('message')}".lower()]
    if drift:
        titles = sorted({str(a.get("title")) for a in drift})
        out.append(
            Finding(
                "warning",
                "drift",
                f"{len(drift)} drift alert(s) in the window: {', '.join(titles)}.",
                "Compare live signals with the backtest's (reports/drift) before trusting "
                "the strategy's edge.",
            )
        )
    severe = [
        a
        for a in facts.alerts
        if str(a.get("severity", a.get("level", ""))).lower() in ("critical", "emergency")
        and a not in drift
    ]
    if severe:
        titles = sorted({str(a.get("title")) for a in severe})
        out.append(
            Finding(
                "critical",
                "severe_alerts",
                f"{len(severe)} critical or emergency alert(s) in the window: {', '.join(titles)}.",
                "Read alerts.jsonl for the details and confirm each cause is resolved.",
            )
        )
    return out


def stop_losses(facts: ReportFacts) -> list[Finding]:
    trades = facts.trades
    if "exit_reason" not in trades.columns:
        return []
    closed = trades[trades["is_closed"].astype(bool)] if len(trades) else trades
    if len(closed) < STOP_SHARE_MIN_TRADES:
        return []
    share = float((closed["exit_reason"] == "stop_loss").mean())
    if share <= STOP_SHARE:
        return []
    return [
        Finding(
            "warning",
            "stop_losses",
            f"{share:.0%} of the {len(closed)} closed trades ended at their stop-loss.",
            "Stops may be too tight for the current volatility; compare the trades' MAE "
            "with the stop distance.",
        )
    ]


def unvalued_fees(facts: ReportFacts) -> list[Finding]:
    if facts.fees_unvalued <= 0:
        return []
    return [
        Finding(
            "warning",
            "unvalued_fees",
            f"{facts.fees_unvalued} fill(s) paid a fee that could not be valued in the quote "
            "currency: their net P&L is unknown and left out of the totals.",
            "Ingest the fee currency's market (e.g. BNB/USDT) so fees can be valued.",
        )
    ]


RULES: tuple[Rule, ...] = (
    what_happened,
    drawdown_stage,
    below_backtest,
    stale_feed,
    alerts_seen,
    stop_losses,
    unvalued_fees,
)


def findings(facts: ReportFacts, rules: Sequence[Rule] = RULES) -> list[Finding]:
    """Every rule's findings in rule order; a rule that raises is a bug and is not hidden."""
    out: list[Finding] = []
    for rule in rules:
        out.extend(rule(facts))
    return out


def headline(found: Sequence[Finding]) -> str:
    """One sentence: how many things are off, and the worst level."""
    off = [f for f in found if f.level != "info"]
    if not off:
        return "Nothing is off."
    worst = max(off, key=lambda f: LEVEL_ORDER[f.level]).level
    return f"{len(off)} thing(s) need attention (worst: {worst})."
