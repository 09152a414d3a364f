"""reports/daily_report: the day's report, and the week's and the month's when the day ends
them, as Markdown and HTML with charts (equity and drawdown, P&L per day and per instance,
open positions), trades with their reasons, and a summary with recommendations written by
rules (trading_core.reports). An LLM summary is added only when a provider is configured.
With the drift settings (``drift=``; the code location passes them) each report has the drift
section of ``reports/drift`` (assets/drift.py) for its window.

Partitioned by UTC day: the schedule writes yesterday's complete report shortly after
midnight; materializing today's partition shows the day so far. Weekly and monthly reports are
not partitions of their own: they read the same tables, so the day that completes a week
(Sunday) or a month (its last day) also writes them (``ReportConfig.periods`` can ask for any
period on any day). Files: ``$TRADING_HOME/reports/{daily,weekly,monthly}_report_<label>.md``
and ``.html``, charts beside them as ``<period>_<label>_<chart>.png``; ``latest.html`` is the
newest daily report.
"""

import json
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field, field_validator

from assets.drift import window_drift
from trading_core.reports.build import BuiltReport, ReportInputs, build_report
from trading_core.reports.drift_ledger import LedgerReadError
from trading_core.reports.drift_run import DriftReport, DriftSetup
from trading_core.reports.drift_section import with_drift
from trading_core.reports.llm import SummaryProvider, provider_from_env
from trading_core.reports.render import data_uri, markdown, to_html
from trading_core.reports.window import PERIODS, ReportWindow, window_for, windows_ending_on
from trading_core.timeframes import utc_now

REPORT_KEY = dg.AssetKey(["reports", "daily_report"])
REPORT_DEPS = [
    dg.AssetKey(["fct_daily_pnl"]),
    dg.AssetKey(["fct_positions"]),
    dg.AssetKey(["fct_trade_journal"]),
    dg.AssetKey(["fct_trades"]),
    dg.AssetKey(["fct_equity_curve"]),
]

CONVENTIONS = (
    "Times in UTC; amounts in the quote currency. Realized P&L by the average-cost method per "
    "mode/exchange/symbol, gross and net of fees; `fee` is in `fee_currency` (a fee in the "
    "base asset reduces the quantity), `fee_quote` is its value in the quote currency at fill "
    "time (a BNB fee without a price is marked unvalued, never added to quote amounts); "
    "unrealized P&L and equity marked to the last candle close known at each instant (hourly "
    "curve). Drawdown = 1 - equity / running peak of that curve; drawdown stages are the risk "
    "protocol's (5/10/15/20 % by default). Daily P&L = change of end-of-day equity; P&L per "
    "instance = realized P&L net of fees of its fills (an instance is the fills' strategy "
    "label: `default` trades under the strategy's name, manual intents under `manual`). "
    "A trade is a round trip (flat to flat) counted in the window it closed; MFE/MAE are "
    "fractions of the entry price. Paper fills follow the fill conventions in the README "
    "(reference price = signal bar close; book walk with capped slippage; taker fee)."
)


class ReportConfig(dg.Config):
    periods: list[str] = Field(
        default_factory=list,
        description="Reports to write for the partition's day: daily, weekly, monthly. Empty: "
        "daily, plus weekly on a Sunday and monthly on a month's last day.",
    )
    backtest_pnl_per_day: dict[str, float] = Field(
        default_factory=dict,
        description="Expected realized P&L per day (quote) of each instance from its backtest; "
        "an instance far below it is flagged.",
    )
    stale_after_hours: float = Field(default=2.0, gt=0, le=24 * 30)

    @field_validator("periods")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if p not in PERIODS]
        if bad:
            raise ValueError(f"periods: {bad} unknown; allowed {list(PERIODS)}")
        return list(dict.fromkeys(value))


def read_alerts(path: Path, window: ReportWindow) -> list[dict[str, Any]]:
    """The alerts of ``alerts.jsonl`` raised inside the window (bad lines are skipped: the
    file is a log other processes append to)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
            at = datetime.fromisoformat(str(record["at"])).replace(tzinfo=None)
        except (ValueError, KeyError, TypeError):
            continue
        if window.start <= at < window.end:
            out.append(record)
    return out


def read_inputs(conn: Any, window: ReportWindow, alerts_path: Path) -> ReportInputs:
    def df(sql: str, params: list[Any]) -> pd.DataFrame:
        return conn.execute(sql, params).df()

    end = window.end
    newest = conn.execute("select max(available_at) from staging.stg_ohlcv").fetchone()
    return ReportInputs(
        curve=df(
            "select mode, as_of, equity from journals.fct_equity_curve where as_of <= ?", [end]
        ),
        daily=df("select * from journals.fct_daily_pnl where day < ?", [end.date()]),
        journal=df(
            "select * exclude (reasons) from journals.fct_trade_journal "
            "where event_time >= ? and event_time < ? order by sequence",
            [window.start, end],
        ),
        trades=df(
            "select * exclude (onchain_at_entry) from journals.fct_trades "
            "where (closed_at >= ? and closed_at < ?) or not is_closed",
            [window.start, end],
        ),
        positions=df("select * from journals.fct_positions", []),
        newest_candle_at=pd.Timestamp(newest[0]).to_pydatetime() if newest and newest[0] else None,
        alerts=read_alerts(alerts_path, window),
    )


def write_report(built: BuiltReport, folder: Path) -> tuple[Path, Path, str]:
    """Write the Markdown, the HTML and the PNGs; return both paths and the Markdown with the
    charts inlined (for Dagster's metadata)."""
    folder.mkdir(parents=True, exist_ok=True)
    content = built.content
    for chart in content.charts:
        (folder / chart.name).write_bytes(chart.png)
    stem = f"{content.window.period}_report_{content.window.label}"
    md_path, html_path = folder / f"{stem}.md", folder / f"{stem}.html"
    md_path.write_text(markdown(content))
    html_path.write_text(to_html(content))
    inline = markdown(content, image_src={c.name: data_uri(c.png) for c in content.charts})
    return md_path, html_path, inline


def build_daily_report_asset(
    partitions: dg.PartitionsDefinition,
    reports_dir: Path,
    *,
    summary_provider: SummaryProvider | None = None,
    alerts_path: Path | None = None,
    drift: DriftSetup | None = None,
) -> dg.AssetsDefinition:
    """``summary_provider``: the LLM summary's provider; None reads the environment
    (``TRADING_REPORT_LLM_URL``; unset: no LLM summary). ``drift``: with it, each report has
    the drift section (``assets.drift.window_drift``, the code of ``reports/drift``)."""
    alerts_file = alerts_path or reports_dir.parent / "alerts.jsonl"

    @dg.asset(
        key=REPORT_KEY,
        deps=REPORT_DEPS,
        partitions_def=partitions,
        pool="duckdb_warehouse",
        group_name="reports",
        kinds={"python", "markdown", "html"},
        # today's report follows the fills as they are journaled; past days are final
        automation_condition=dg.AutomationCondition.eager(),
        description="The day's report (and the week's/month's on the day that ends them): "
        "equity and drawdown, P&L per day and per instance, positions, trades with reasons, "
        "a rule-written summary with recommendations (Markdown + HTML + PNG).",
    )
    def daily_report(
        context: dg.AssetExecutionContext, warehouse: DuckDBResource, config: ReportConfig
    ) -> dg.MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        windows = (
            [window_for(p, day) for p in config.periods]
            if config.periods
            else windows_ending_on(day)
        )
        provider = summary_provider if summary_provider is not None else provider_from_env()
        now = utc_now().replace(tzinfo=None)
        metadata: dict[str, Any] = {}
        for window in windows:
            drifted: DriftReport | None = None
            with warehouse.get_connection() as conn:
                inputs = read_inputs(conn, window, alerts_file)
                if drift is not None:
                    try:
                        drifted = window_drift(conn, drift, window.start, window.end, now)
                    except LedgerReadError as exc:  # the report goes out without the section
                        context.log.warning(f"no drift section: {exc}")
            inputs = replace(inputs, backtest_pnl_per_day=config.backtest_pnl_per_day)
            built = build_report(
                window,
                inputs,
                # a past window is judged as of its end (a feed that stopped before it ended)
                generated_at=min(now, window.end),
                conventions=CONVENTIONS,
                provider=provider,
            )
            if drifted is not None:
                built = replace(built, content=with_drift(built.content, drifted))
            md_path, html_path, inline = write_report(built, reports_dir)
            if window.period == "daily":
                (reports_dir / "latest.html").write_text(html_path.read_text())
                metadata |= daily_metadata(built, md_path, html_path, inline)
            else:
                metadata[f"{window.period}_report"] = dg.MetadataValue.path(str(html_path))
                metadata[f"{window.period}_pnl"] = built.numbers["pnl"]
        return dg.MaterializeResult(metadata=metadata)

    return daily_report


def daily_metadata(
    built: BuiltReport, md_path: Path, html_path: Path, inline: str
) -> dict[str, Any]:
    numbers = built.numbers
    by_mode = numbers["equity"] or {}
    return {
        "day": built.content.window.label,
        "window": numbers["window"],
        "summary": built.content.headline,
        "pnl": numbers["pnl"],
        # one mode: its equity; several: see equity_by_mode
        "equity": next(iter(by_mode.values())) if len(by_mode) == 1 else None,
        "equity_by_mode": dg.MetadataValue.json(by_mode),
        "max_drawdown": numbers["max_drawdown"],
        "trades": numbers["fills"],
        "closed_trades": numbers["closed_trades"],
        "open_positions": numbers["open_positions"],
        "instances": ", ".join(numbers["instances"]),
        "report_path": dg.MetadataValue.path(str(md_path)),
        "report_html": dg.MetadataValue.path(str(html_path)),
        "equity_png": dg.MetadataValue.path(str(md_path.parent / built.content.charts[0].name)),
        "report": dg.MetadataValue.md(inline),
    }
