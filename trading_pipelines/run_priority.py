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
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from trading_pipelines.in_flight import EVALUATION_LANE, LANE_TAG, LIVE_INGEST_LANE

if TYPE_CHECKING:
    from dagster._core.execution.context.system import PlanOrchestrationContext
    from dagster._core.execution.plan.plan import ExecutionPlan
    from dagster._core.execution.retries import RetryMode

LIVE_LANES = frozenset({EVALUATION_LANE, LIVE_INGEST_LANE})
BACKGROUND_NICENESS = 10


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
            now = lower_process_priority(wanted)
            plan_context.instance.report_engine_event(
                f"Background run: CPU priority lowered to nice {now} (not a live lane).",
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
