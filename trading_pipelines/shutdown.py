"""A clean stop of the Dagster side of ``make run``: no run left queued, none FAILED.

Ctrl-C must leave no work behind: a queued run would start after the next ``make run``, on
bars that are history by then, and a run worker killed with its process group ends FAILED
("Execution was interrupted unexpectedly") and fires the failure alert. So, before the
supervisor stops ``dagster dev``, ``cancel_runs`` cancels every queued run and asks every
started one to terminate (Dagster marks it CANCELING; its worker stops and ends CANCELED),
again and again until nothing is in flight or the grace period is over: the daemon may still
launch a run while we wind down. Once ``dagster dev`` has stopped, ``settle_runs`` marks
CANCELED every run still unfinished (its worker died with the group), every run that our
own shutdown interrupted into a failure, and every run that failed to launch meanwhile
(dequeued by the daemon as the code server was shutting down: it never started). Each run
touched is tagged ``trading/canceled_by: shutdown``, and the failure-alert sensor ignores
runs with that tag.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

import dagster as dg

from trading_pipelines.in_flight import IN_FLIGHT_STATUSES

log = logging.getLogger("trading_pipelines.shutdown")

CANCELED_BY_TAG = "trading/canceled_by"
SHUTDOWN = "shutdown"
FAILURE_REASON_TAG = "dagster/failure_reason"
INTERRUPTED = "UNEXPECTED_TERMINATION"
MESSAGE = "canceled by the shutdown of make run (Ctrl-C or SIGTERM)"


def canceled_by_shutdown(run: dg.DagsterRun) -> bool:
    return run.tags.get(CANCELED_BY_TAG) == SHUTDOWN


def _unfinished(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    records = instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT_STATUSES))
    return [record.dagster_run for record in records]


def _mark(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    if not canceled_by_shutdown(run):
        instance.add_run_tags(run.run_id, {CANCELED_BY_TAG: SHUTDOWN})


def _cancel(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """One step towards CANCELED; safe to repeat. A queued run is cancelled at once; a started
    one is asked to terminate (its worker ends it CANCELED); a starting one is only tagged
    and waited for: a termination request before its worker runs makes the worker exit and
    Dagster mark the run failed."""
    _mark(instance, run)
    status = run.status
    if status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED):
        instance.report_run_canceled(run, MESSAGE)
    elif status == dg.DagsterRunStatus.STARTED:
        try:
            instance.run_launcher.terminate(run.run_id)
        except Exception as exc:  # the code server may be gone: settle_runs finishes it
            log.warning(f"could not ask run {run.run_id} to terminate: {exc}")


def cancel_runs(
    instance: dg.DagsterInstance,
    grace_seconds: float = 15.0,
    *,
    interval: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Cancel queued runs and ask started ones to stop until none is left in flight or
    ``grace_seconds`` passed (the daemon still runs meanwhile); return how many runs it
    touched."""
    deadline = clock() + grace_seconds
    touched: set[str] = set()
    while True:
        unfinished = _unfinished(instance)
        for run in unfinished:
            _cancel(instance, run)
            touched.add(run.run_id)
        if not unfinished or clock() >= deadline:
            return len(touched)
        sleep(interval)


LAUNCH_REFUSED = "after telling it to shut down"  # DagsterLaunchFailedError's message


def _launch_refused(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether the run's launch failed because the code server was shutting down (the daemon
    dequeued it while ``dagster dev`` stopped)."""
    from dagster._core.events import DagsterEventType

    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        error = getattr(data, "error", None)
        if error is not None and LAUNCH_REFUSED in (error.message or ""):
            return True
    return False


def settle_runs(instance: dg.DagsterInstance, since: datetime) -> int:
    """After Dagster stopped: mark CANCELED what it left unfinished, and what our shutdown
    (begun at ``since``, UTC) interrupted into a failure; return how many runs it settled."""
    settled = 0
    for run in _unfinished(instance):
        _mark(instance, run)
        instance.report_run_canceled(run, MESSAGE)
        settled += 1
    failed = instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], updated_after=since)
    )
    for record in failed:
        run = record.dagster_run
        # or its launch was refused: dequeued as the code server was told to shut down
        refused = record.start_time is None and _launch_refused(instance, run.run_id)
        if run.tags.get(FAILURE_REASON_TAG) == INTERRUPTED or canceled_by_shutdown(run) or refused:
            _mark(instance, run)
            instance.report_run_canceled(run, MESSAGE)
            settled += 1
    return settled
