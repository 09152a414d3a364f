"""A clean stop of ``make run`` (``trading_pipelines.shutdown``) on a real Dagster instance
with the dagster.yaml ``make run`` writes: queued runs are canceled, started ones asked to
terminate, and after Dagster stopped no run is left unfinished or FAILED by our own stop, so
the failure-alert sensor has nothing to say. A genuine failure still alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster._core.events import EngineEventData, JobFailureData, RunFailureReason
from dagster._utils.error import SerializableErrorInfo

from sensors.alerts import run_failure_alert
from tests.dagster_runs import add_run
from trading_pipelines.resources.alerts import AlertResource
from trading_pipelines.shutdown import CANCELED_BY_TAG, cancel_runs, settle_runs

S = dg.DagsterRunStatus


class FailureAlerts:
    """The run_failure_alert sensor ticking against the instance, writing alerts.jsonl."""

    def __init__(self, instance: dg.DagsterInstance, path: Path):
        self.instance, self.path, self.cursor = instance, path, None
        self.tick()  # the first tick only sets the cursor: later failures are new

    def tick(self) -> list[dict]:
        before = self.lines()
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"alerts": AlertResource(path=str(self.path))},
        )
        run_failure_alert.evaluate_tick(context)
        self.cursor = context.cursor
        return self.lines()[len(before) :]

    def lines(self) -> list[dict]:
        text = self.path.read_text() if self.path.exists() else ""
        return [json.loads(line) for line in text.splitlines()]


def interrupted(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """What a run worker killed with its process group reports."""
    instance.report_run_failed(
        instance.get_run_by_id(run.run_id),
        "Execution was interrupted unexpectedly. No user initiated termination request was "
        "found, treating as failure.",
        JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
    )


def statuses(instance: dg.DagsterInstance) -> dict[str, S]:
    return {r.dagster_run.run_id: r.dagster_run.status for r in instance.get_run_records()}


def test_a_clean_shutdown_leaves_no_failed_run_and_fires_no_alert(instance, tmp_path) -> None:
    alerts = FailureAlerts(instance, tmp_path / "alerts.jsonl")
    queued = [
        add_run(instance, "evaluate_strategy", S.QUEUED),
        add_run(instance, "ingest_market", S.QUEUED, {"trading/trigger": "live_market"}),
    ]
    started = add_run(instance, "evaluate_strategy", S.STARTED)
    starting = add_run(instance, "refresh_unpartitioned", S.STARTING)
    done = add_run(instance, "ingest_market", S.SUCCESS)
    since = datetime.now(UTC)
    touched = cancel_runs(instance, grace_seconds=0.5, interval=0.05)
    assert touched == 4  # every unfinished run, none of the finished ones
    now = statuses(instance)
    assert [now[r.run_id] for r in queued] == [S.CANCELED, S.CANCELED]
    # no worker answers here (no code server): the termination request stands
    assert now[started.run_id] == S.CANCELING
    assert now[starting.run_id] == S.STARTING  # not interrupted before its worker runs
    # Dagster stops; a run launched at the last moment dies with the process group
    late = add_run(instance, "evaluate_strategy", S.STARTED)
    interrupted(instance, late)
    # and one dequeued as the code server shut down: its launch fails, it never started
    refused = add_run(instance, "signal_checks", S.STARTING)
    error = SerializableErrorInfo(
        "dagster._core.errors.DagsterLaunchFailedError: Tried to start a run on a server "
        "after telling it to shut down\n",
        [],
        "DagsterLaunchFailedError",
    )
    run = instance.get_run_by_id(refused.run_id)
    instance.report_engine_event("launch failed", run, EngineEventData(error=error))
    instance.report_run_failed(run, "launch failed")
    assert settle_runs(instance, since) == 4
    now = statuses(instance)
    assert now[done.run_id] == S.SUCCESS
    assert {now[r] for r in now if r != done.run_id} == {S.CANCELED}
    assert not instance.get_run_records(dg.RunsFilter(statuses=[S.FAILURE]))
    for record in instance.get_run_records():
        if record.dagster_run.run_id != done.run_id:
            assert record.dagster_run.tags[CANCELED_BY_TAG] == "shutdown"
    assert alerts.tick() == []
    # the next start: queued runs of the last session do not run again
    assert not instance.get_run_records(dg.RunsFilter(statuses=[S.QUEUED]))


def test_a_genuine_failure_is_still_alerted_and_not_relabeled(instance, tmp_path) -> None:
    alerts = FailureAlerts(instance, tmp_path / "alerts.jsonl")
    since = datetime.now(UTC)
    broken = add_run(instance, "evaluate_strategy", S.STARTED)
    instance.report_run_failed(instance.get_run_by_id(broken.run_id), "dbt build failed")
    # a crash of Dagster outside any shutdown: an interrupted run is a real failure
    crashed = add_run(instance, "ingest_market", S.STARTED)
    interrupted(instance, crashed)
    assert [a["message"].split(":")[0] for a in alerts.tick()] == [broken.run_id, crashed.run_id]
    settle_runs(instance, since)  # a stop right after relabels only the interruption
    now = statuses(instance)
    assert (now[broken.run_id], now[crashed.run_id]) == (S.FAILURE, S.CANCELED)


def test_cancel_runs_gives_up_after_its_grace_period(instance) -> None:
    add_run(instance, "refresh_unpartitioned", S.STARTING)  # never gets a worker here
    clock = iter(range(100))
    sleeps: list[float] = []
    touched = cancel_runs(
        instance, grace_seconds=3, interval=1, clock=lambda: next(clock), sleep=sleeps.append
    )
    assert touched == 1 and sleeps == [1, 1]  # clock 1, 2: wait; 3: the deadline
