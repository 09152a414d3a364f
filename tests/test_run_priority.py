"""Runs off the live path run at a lower CPU priority, live lanes and in-process executions
keep theirs (``trading_pipelines.run_priority``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import REPO_ROOT
from trading_pipelines.in_flight import LANE_TAG
from trading_pipelines.run_priority import (
    BACKGROUND_NICENESS,
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
