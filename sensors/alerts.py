"""Alerts: an executor that stops heart-beating or halts trading, and failed runs.

Alerts go through the one alert module (``executor.alerts``) that the executor and the
supervisor use too, so the alerts that matter most do not depend on Dagster being alive.
The executor writes a health file (TRADING_HOME/executor/health.json) every tick. The sensor
reads that file, never the ledger or the warehouse, and alerts once per incident (the cursor
remembers the last state it reported). A run that the shutdown of ``make run`` stopped
(``trading_pipelines.shutdown``) is not a failure: it is canceled, and never alerted.
"""

import json
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg

from trading_core.timeframes import utc_now
from trading_pipelines.resources.alerts import AlertResource
from trading_pipelines.shutdown import canceled_by_shutdown

STALE_AFTER = timedelta(seconds=90)
# Levels of issue 17: a dead executor is a system error (nothing watches the positions), a
# halt is critical, a health file never written yet only a warning.
INCIDENT_LEVELS = {"down": "emergency", "halted": "critical", "missing": "warning"}


def health_status(health_file: Path, now: datetime) -> tuple[str, str]:
    """('ok' | 'down' | 'halted' | 'missing', explanation) from the executor's health file."""
    if not health_file.is_file():
        return "missing", f"no executor health file at {health_file}: is the executor running?"
    try:
        health = json.loads(health_file.read_text())
        beat = datetime.fromisoformat(str(health["heartbeat"])).replace(tzinfo=None)
    except (ValueError, KeyError, TypeError) as exc:
        return "down", f"unreadable executor health file {health_file}: {exc}"
    age = now - beat
    if age > STALE_AFTER:
        return "down", f"executor heartbeat is {int(age.total_seconds())} s old"
    state = str(health.get("trading_state") or health.get("state") or "").upper()
    if state == "HALTED":
        reason = health.get("trading_state_reason") or health.get("reason") or "no reason given"
        return "halted", f"trading is HALTED: {reason}"
    return "ok", f"executor alive (state {state or 'unknown'})"


def build_executor_health_sensor(health_file: Path) -> dg.SensorDefinition:
    @dg.sensor(
        name="executor_health",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Alerts when the executor stops heart-beating or trading is HALTED.",
    )
    def executor_health(context: dg.SensorEvaluationContext, alerts: AlertResource):
        status, detail = health_status(health_file, utc_now())
        previous = context.cursor or "ok"
        context.update_cursor(status)
        if status != previous and status != "ok":
            alerts.send(INCIDENT_LEVELS[status], "executor", detail, key=f"executor:{status}")
            return dg.SkipReason(f"alerted: {detail}")
        if status != previous:
            alerts.send("info", "executor", f"recovered: {detail}")
        return dg.SkipReason(detail)

    return executor_health


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Alerts on every failed run (ingest, evaluation, dbt, reports), except runs the "
        "shutdown of make run canceled."
    ),
)
def run_failure_alert(context: dg.RunFailureSensorContext, alerts: AlertResource) -> None:
    run = context.dagster_run
    if canceled_by_shutdown(run) or run.status != dg.DagsterRunStatus.FAILURE:
        context.log.info(f"run {run.run_id} was stopped by a shutdown, not failed: no alert")
        return
    message = context.failure_event.message or "run failed"
    alerts.send("warning", f"run {run.job_name} failed", f"{run.run_id}: {message[:500]}")
