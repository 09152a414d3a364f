"""reports/drift: what each instance traded in a day against what the backtest of the same
day would have done (``trading_core.reports.drift_run``), with an asset check and an alert
when a day is out of the configured bounds (``drift:``, ``trading_core.config_drift``).

Partitioned by UTC day, like ``reports/daily_report`` (whose drift section is the same code,
``window_drift``). Reads the ledger (SELECTs only, its URL from the configuration) and the
warehouse's candles (``staging.stg_ohlcv``, closed candles only: known by the run's time),
so it is in the warehouse's pool. Writes ``$TRADING_HOME/reports/drift_<day>.md`` and
``.json``. The check ``drift_within_bounds`` fails (WARN) when any instance breaks a bound
(any missed or extra trade, mean entry slippage above 2x the configured slippage, a P&L
difference above 0.5 % of the instance's equity, by default), and the alert goes through
the one alert module (``AlertResource``) to every channel.
"""

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from trading_core.reports.drift_ledger import LedgerReadError, read_ledger
from trading_core.reports.drift_run import (
    CandleLoader,
    DriftReport,
    DriftSetup,
    breach_message,
    drift_report,
)
from trading_core.reports.drift_section import (
    markdown,
    summary_table,
    table_markdown,
    trades_table,
)
from trading_core.timeframes import utc_now
from trading_pipelines.resources.alerts import AlertResource

DRIFT_KEY = dg.AssetKey(["reports", "drift"])
DRIFT_CHECK = "drift_within_bounds"
# Days of ledger records read before a window, for the trades still open when it starts.
CARRY_DAYS = 7
DRIFT_DEPS = [
    dg.AssetKey(["execution", "fills"]),
    dg.AssetKey(["execution", "orders"]),
    dg.AssetKey(["stg_ohlcv"]),
]


def warehouse_candles(conn: Any, known_at: datetime) -> CandleLoader:
    """Closed candles of ``staging.stg_ohlcv`` (``available_at <= known_at``)."""

    def load(
        exchange: str, symbol: str, timeframe: str, start: datetime, end: datetime
    ) -> pd.DataFrame:
        return conn.execute(
            "select ts, open, high, low, close, volume from staging.stg_ohlcv "
            "where exchange = ? and symbol = ? and timeframe = ? and ts >= ? and ts < ? "
            "and available_at <= ? order by ts",
            [exchange, symbol, timeframe, start, end, known_at],
        ).df()

    return load


def window_drift(
    conn: Any, setup: DriftSetup, start: datetime, end: datetime, now: datetime
) -> DriftReport:
    """The drift of ``[start, end)`` as known at ``now`` (the ledger read from
    ``CARRY_DAYS`` before the window: a position opened earlier than that is not rebuilt)."""
    frames = read_ledger(setup.ledger_url, min(end, now), start - timedelta(days=CARRY_DAYS))
    return drift_report(setup, frames, warehouse_candles(conn, now), start, end)


def _check(report: DriftReport) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=DRIFT_CHECK,
        passed=not report.breached,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "instances_out_of_bounds": len(report.breached),
            "breaches": breach_message(report.summaries) or "none",
        },
    )


def build_drift_report_asset(
    partitions: dg.PartitionsDefinition, setup: DriftSetup, reports_dir: Path
) -> dg.AssetsDefinition:
    @dg.asset(
        key=DRIFT_KEY,
        deps=DRIFT_DEPS,
        partitions_def=partitions,
        pool="duckdb_warehouse",
        group_name="reports",
        kinds={"python", "markdown"},
        check_specs=[
            dg.AssetCheckSpec(
                DRIFT_CHECK,
                asset=DRIFT_KEY,
                description="Every instance's day within the drift bounds (drift: section).",
            )
        ],
        # today's drift follows the fills as the executor reports them (not every new candle:
        # a run per bar would hold the warehouse's pool the live path needs); past days final
        automation_condition=dg.AutomationCondition.eager().ignore(
            dg.AssetSelection.assets(dg.AssetKey(["stg_ohlcv"]))
        ),
        description="Per instance and day: the traded trades against the backtest of the "
        "same window (missed and extra trades, entry/exit price, fee and P&L differences, "
        "each with its likely cause: late fill, rejected by risk, expired, slippage, partial "
        "fill).",
    )
    def drift(
        context: dg.AssetExecutionContext, warehouse: DuckDBResource, alerts: AlertResource
    ) -> dg.MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        start = datetime.combine(day, datetime.min.time())
        end = start + timedelta(days=1)
        now = utc_now().replace(tzinfo=None)
        try:
            with warehouse.get_connection() as conn:
                report = window_drift(conn, setup, start, end, now)
        except LedgerReadError as exc:
            raise dg.Failure(description=f"reports/drift: {exc}") from exc
        reports_dir.mkdir(parents=True, exist_ok=True)
        md_path = reports_dir / f"drift_{day.isoformat()}.md"
        json_path = md_path.with_suffix(".json")
        md_path.write_text(markdown(report))
        json_path.write_text(json.dumps(report.to_dict(), indent=2, default=str))
        if report.breached:
            alerts.send(
                setup.bounds.alert_level,
                f"drift: out of bounds on {day.isoformat()}",
                breach_message(report.summaries),
                key=f"drift|{day.isoformat()}",
            )
        for note in report.notes:
            context.log.info(note)
        summary = summary_table(report)
        metadata: dict[str, Any] = {
            "window": report.window,
            "mode": report.mode or "no fills",
            "instances": ", ".join(summary["instance"]) or "none traded",
            "missed_trades": int(summary["missed"].sum()),
            "extra_trades": int(summary["extra"].sum()),
            "pnl_diff": float(summary["pnl_diff"].sum()),
            "instances_out_of_bounds": len(report.breached),
            "report_path": dg.MetadataValue.path(str(md_path)),
            "report_json": dg.MetadataValue.path(str(json_path)),
            "drift": dg.MetadataValue.md(_table_md(trades_table(report))),
        }
        return dg.MaterializeResult(metadata=metadata, check_results=[_check(report)])

    return drift


def _table_md(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_every trade as the backtest would have made it_"
    return table_markdown(frame)
