"""Runs off the live path run at a lower CPU priority, live lanes and in-process executions
keep theirs (``trading_pipelines.run_priority``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import REPO_ROOT
from trading_pipelines.in_flight import LANE_TAG, MAX_RUNTIME_TAG
from trading_pipelines.run_priority import (
    BACKGROUND_NICENESS,
    DEFAULT_LIVE_RUNTIME_SECONDS,
    GIVE_WAY_POLL_SECONDS,
    PriorityExecutor,
    give_way,
    live_runs_started,
    lower_process_priority,
    priority_in_process_executor,
    run_niceness,
)


@pytest.mark.parametrize(
    ("tags", "own_process", "expected"),
    [
        ({LANE_TAG: "evaluation"}, True, 0),
        ({LANE_TAG: "live_ingest"}, True, 0),
        ({LANE_TAG: "research"}, True, BACKGROUND_NICENESS),
        ({}, True, BACKGROUND_NICENESS),  # journals, reports, drift (automation), backfills
        ({LANE_TAG: ""}, True, BACKGROUND_NICENESS),
        ({LANE_TAG: "Evaluation"}, True, BACKGROUND_NICENESS),  # lanes are exact names
        ({}, False, 0),  # execute_in_process / materialize: the caller's own process
        ({LANE_TAG: "research"}, False, 0),
    ],
)
def test_which_runs_are_lowered(tags: dict[str, str], own_process: bool, expected: int) -> None:
    assert run_niceness(tags, own_process) == expected


@pytest.mark.parametrize("bad", [-1, 20, 100])
def test_a_niceness_out_of_range_is_refused_before_anything_changes(bad: int) -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with pytest.raises(ValueError, match=r"0\.\.19"):
        lower_process_priority(bad)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before


PROBE = r"""
import os, sys, threading
from trading_pipelines.run_priority import lower_process_priority
target = int(sys.argv[1])
started, stop, seen = threading.Event(), threading.Event(), []
def worker():
    started.set(); stop.wait(); seen.append(os.getpriority(os.PRIO_PROCESS, 0))
thread = threading.Thread(target=worker); thread.start(); started.wait()
first = lower_process_priority(target)
again = lower_process_priority(target - 1)  # never lowers a value
stop.set(); thread.join()
late = []
later = threading.Thread(target=lambda: late.append(os.getpriority(os.PRIO_PROCESS, 0)))
later.start(); later.join()
print(first, again, seen[0], late[0])
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="per-thread nice: Linux")
def test_every_thread_of_the_process_is_lowered_and_never_raised_back() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)  # the child starts at the test's value
    target = min(19, base + 3)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(target)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == [str(target)] * 4


def test_a_run_in_the_callers_process_keeps_its_priority() -> None:
    @dg.asset
    def probe() -> int:
        return os.getpriority(os.PRIO_PROCESS, 0)

    before = os.getpriority(os.PRIO_PROCESS, 0)
    defs = dg.Definitions(assets=[probe], executor=priority_in_process_executor)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process()
    assert result.success
    assert result.output_for_node("probe") == before
    assert os.getpriority(os.PRIO_PROCESS, 0) == before


def test_the_code_location_runs_every_job_on_it(trading_home: Path) -> None:
    from trading_pipelines.definitions import build_definitions
    from trading_pipelines.settings import config, paths

    defs = build_definitions(config(), paths())
    for name in ("evaluate_strategy", "refresh_unpartitioned", "research"):
        assert defs.resolve_job_def(name).executor_def is priority_in_process_executor


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_giving_way_returns_at_once_without_a_started_live_run() -> None:
    clock = FakeClock()
    assert give_way(lambda: {}, clock.sleep, clock) == (0.0, [])
    assert clock.slept == []


def test_giving_way_waits_until_the_live_runs_end() -> None:
    clock = FakeClock()
    # the evaluation is started for 2 s, then a live ingest for 1 s more, then nothing
    timeline = [({"eval": 300.0}, 2.0), ({"ingest": 300.0}, 3.0)]

    def live() -> dict[str, float]:
        for found, until in timeline:
            if clock.now < until:
                return found
        return {}

    waited, runs = give_way(live, clock.sleep, clock)
    assert waited == pytest.approx(3.0) and runs == ["eval", "ingest"]
    assert set(clock.slept) == {GIVE_WAY_POLL_SECONDS}


def test_giving_way_ends_after_the_live_runs_maximum_run_time() -> None:
    clock = FakeClock()  # a hung evaluation: run monitoring fails it after its 4 s
    waited, runs = give_way(lambda: {"hung": 4.0}, clock.sleep, clock)
    assert waited == pytest.approx(4.0) and runs == ["hung"]


def _add_run(
    instance: dg.DagsterInstance, status: dg.DagsterRunStatus, tags: dict[str, str]
) -> str:
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster._core.utils import make_new_run_id

    run_id = make_new_run_id()
    instance.add_run(DagsterRun(job_name="job", run_id=run_id, status=status, tags=tags))
    return run_id


def test_only_started_runs_of_a_live_lane_are_given_way_to() -> None:
    S = dg.DagsterRunStatus
    with dg.instance_for_test() as instance:
        evaluation = _add_run(instance, S.STARTED, {LANE_TAG: "evaluation", MAX_RUNTIME_TAG: "90"})
        ingest = _add_run(instance, S.STARTING, {LANE_TAG: "live_ingest"})
        for status, tags in [
            (S.NOT_STARTED, {LANE_TAG: "evaluation"}),  # not dequeued: may wait for our slot
            (S.SUCCESS, {LANE_TAG: "evaluation"}),
            (S.FAILURE, {LANE_TAG: "live_ingest"}),
            (S.STARTED, {LANE_TAG: "research"}),
            (S.STARTED, {}),
            (S.STARTED, {LANE_TAG: "Evaluation"}),
        ]:
            _add_run(instance, status, tags)
        assert live_runs_started(instance) == {
            evaluation: 90.0,
            ingest: DEFAULT_LIVE_RUNTIME_SECONDS,
        }


@pytest.mark.parametrize("bad", ["abc", "nan", "inf", "-5", "0", ""])
def test_a_hostile_maximum_run_time_gives_the_default_bound(bad: str) -> None:
    with dg.instance_for_test() as instance:
        run = _add_run(
            instance, dg.DagsterRunStatus.STARTED, {LANE_TAG: "evaluation", MAX_RUNTIME_TAG: bad}
        )
        assert live_runs_started(instance) == {run: DEFAULT_LIVE_RUNTIME_SECONDS}


def test_a_background_run_gives_way_before_its_first_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The executor of a launched background run waits for the started evaluation to end,
    says so, then runs its steps (its priority lowering is faked: it cannot be undone, and a
    run of this process is never lowered)."""
    import threading
    from types import SimpleNamespace

    from trading_pipelines import run_priority

    monkeypatch.setattr(run_priority, "lower_process_priority", lambda niceness: niceness)
    monkeypatch.setattr(run_priority, "run_niceness", lambda tags, own_process: 10)
    with dg.instance_for_test() as instance:
        evaluation = _add_run(instance, dg.DagsterRunStatus.STARTED, {LANE_TAG: "evaluation"})
        background = _add_run(instance, dg.DagsterRunStatus.STARTED, {})
        run = instance.get_run_by_id(background)
        assert run is not None
        order: list[str] = []

        class Inner:
            def execute(self, plan_context: object, execution_plan: object) -> Iterator[str]:
                order.append("steps")
                yield "done"

        def finish() -> None:
            order.append("evaluation ends")
            instance.handle_run_event(  # the evaluation's run ends
                evaluation,
                dg.DagsterEvent(
                    event_type_value="PIPELINE_SUCCESS", job_name="job", message="done"
                ),
            )

        timer = threading.Timer(1.0, finish)
        timer.start()
        context = SimpleNamespace(dagster_run=run, instance=instance)
        try:
            assert list(PriorityExecutor(Inner()).execute(context, None)) == ["done"]  # type: ignore[arg-type]
        finally:
            timer.join()
        assert order == ["evaluation ends", "steps"]
        messages = [
            entry.user_message or (entry.dagster_event.message or "")
            for entry in instance.all_logs(background)
            if entry.dagster_event is not None
        ]
        assert any("gave way" in m and evaluation in m for m in messages), messages
