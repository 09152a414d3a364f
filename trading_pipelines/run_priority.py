"""Runs off the live path start at a lower CPU priority: they cannot slow the next evaluation.

Each fill makes the automation sensor launch the journals' dbt run, then the daily and drift
reports (9 such runs in 6 bars of the idle benchmark, benchmarks/README.md): separate
processes that shared the two cores with the next bar's evaluation at the same priority. The
run queue orders runs (``dagster/priority``), not the CPU. So the code location's executor
(Dagster's in-process executor, unchanged, behind ``PriorityExecutor``) raises the nice value
of a launched run's process to ``BACKGROUND_NICENESS`` before its first step, unless the run
is in a live lane (``trading/lane``: the evaluation, the live ingest). The live lanes keep
the default priority; the background runs still take any CPU the live path leaves idle.

Only a run that has a process of its own (launched by a run launcher: its run carries the
remote job origin) is lowered: ``execute_in_process`` and ``dg.materialize`` (bootstrap,
tests) run in the caller's process, whose priority could never be raised back.

Such a background run also *gives way* before its first step: while a live-lane run is
started (dequeued, claiming the warehouse pool step by step), it waits (``give_way``). A
pool hands a freed slot to the steps already waiting for it, and an evaluation's next step
(ingest -> dbt -> intents) only asks once the previous one has ended: a backfill step
waiting meanwhile took the slot at every hand-over, and the evaluation waited for that whole
step. A queued live run is not waited for (it may itself wait for a run slot that this run
holds); the wait ends after the live run's own ``dagster/max_runtime`` at most.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from trading_pipelines.in_flight import (
    EVALUATION_LANE,
    LANE_TAG,
    LIVE_INGEST_LANE,
    MAX_RUNTIME_TAG,
)

if TYPE_CHECKING:
    from dagster._core.execution.context.system import PlanOrchestrationContext
    from dagster._core.execution.plan.plan import ExecutionPlan
    from dagster._core.execution.retries import RetryMode

LIVE_LANES = frozenset({EVALUATION_LANE, LIVE_INGEST_LANE})
BACKGROUND_NICENESS = 10
GIVE_WAY_POLL_SECONDS = 0.5
DEFAULT_LIVE_RUNTIME_SECONDS = 300.0  # a live run without dagster/max_runtime
_STARTED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def run_niceness(tags: Mapping[str, str], own_process: bool) -> int:
    """The nice value a run should run at: 0 (unchanged) for a live lane or a run executed in
    its caller's process, ``BACKGROUND_NICENESS`` for every other run."""
    if not own_process or tags.get(LANE_TAG) in LIVE_LANES:
        return 0
    return BACKGROUND_NICENESS


def lower_process_priority(niceness: int) -> int:
    """Raise every thread of this process to at least ``niceness`` (Linux keeps a nice
    value per thread: the threads started later inherit the caller's). Never lowers a value;
    returns the calling thread's nice value afterwards."""
    if not 0 <= niceness <= 19:
        raise ValueError(f"niceness must be in 0..19, got {niceness!r}")
    tasks = Path("/proc/self/task")
    ids = [int(p.name) for p in tasks.iterdir()] if tasks.is_dir() else [0]
    for tid in ids:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except (ProcessLookupError, PermissionError):  # a thread that ended meanwhile
            continue
    return os.getpriority(os.PRIO_PROCESS, 0)


def live_runs_started(instance: dg.DagsterInstance) -> dict[str, float]:
    """The started (dequeued, unfinished) runs of the live lanes: id -> their maximum run
    time in seconds."""
    records = instance.get_run_records(
        dg.RunsFilter(statuses=_STARTED, tags={LANE_TAG: sorted(LIVE_LANES)}), limit=10
    )
    found = {}
    for record in records:
        run = record.dagster_run
        try:
            runtime = float(run.tags.get(MAX_RUNTIME_TAG, DEFAULT_LIVE_RUNTIME_SECONDS))
        except ValueError:  # a hand-made tag: the default bound, never an endless wait
            runtime = DEFAULT_LIVE_RUNTIME_SECONDS
        valid = math.isfinite(runtime) and runtime > 0
        found[run.run_id] = runtime if valid else DEFAULT_LIVE_RUNTIME_SECONDS
    return found


def give_way(
    live: Callable[[], dict[str, float]],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[float, list[str]]:
    """Wait while ``live()`` names started live runs, at most the longest maximum run time
    among them (run monitoring fails such a run by then); returns the seconds waited and the
    ids of the runs waited for, in the order first seen."""
    began = clock()
    seen: dict[str, float] = {}
    while True:
        found = live()
        for run_id, runtime in found.items():
            seen.setdefault(run_id, runtime)
        waited = clock() - began
        if not found or waited >= max(seen.values()):
            return waited, list(seen)
        sleep(GIVE_WAY_POLL_SECONDS)


class PriorityExecutor(dg.Executor):
    """``inner`` (the in-process executor) after lowering a background run's priority."""

    def __init__(self, inner: dg.Executor) -> None:
        self._inner = inner

    @property
    def retries(self) -> RetryMode:
        return self._inner.retries

    @property
    def step_dependency_config(self) -> Any:
        return self._inner.step_dependency_config

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[Any]:
        run = plan_context.dagster_run
        wanted = run_niceness(run.tags, own_process=run.remote_job_origin is not None)
        if wanted:
            instance = plan_context.instance
            now = lower_process_priority(wanted)
            instance.report_engine_event(
                f"Background run: CPU priority lowered to nice {now} (not a live lane).",
                run,
            )
            waited, live = give_way(lambda: live_runs_started(instance))
            if live:
                instance.report_engine_event(
                    f"Background run: gave way for {waited:.1f} s to the live run(s) "
                    f"{', '.join(live)} before its first step.",
                    run,
                )
        yield from self._inner.execute(plan_context, execution_plan)


@dg.executor(
    name="in_process",
    config_schema=dg.in_process_executor.config_schema.config_type,  # the same config
)
def priority_in_process_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Dagster's in-process executor (same name and config), with background runs at a lower
    CPU priority (``PriorityExecutor``)."""
    return PriorityExecutor(dg.in_process_executor.executor_creation_fn(init_context))  # type: ignore[misc]
