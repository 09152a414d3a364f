"""The supervisor's watchdog: an alert when no evaluation succeeded for N bars (read from a
real Dagster instance's storage, as the supervisor does), once per incident, and when the
disk under TRADING_HOME runs low."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from executor.alerts import Alerter
from trading_core.timeframes import utc_now
from trading_pipelines.watchdog import GIB, Watchdog, disk_problem, stall_problem

T = datetime(2026, 1, 5, 12, 0)


@dg.op
def decide() -> None:
    return None


@dg.job(name="evaluate_strategy")
def evaluate_strategy() -> None:
    decide()


def alerts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def watchdog(instance, tmp_path: Path, clock: Clock, **overrides) -> Watchdog:
    settings = {
        "home": tmp_path,
        "timeframe": "1m",
        "stalled_after_bars": 3,
        "min_free_gib": 1.0,
        "min_free_fraction": 0.05,
        "clock": clock,
        "disk_usage": lambda _: (100 * GIB, 50 * GIB, 50 * GIB),
        **overrides,
    }
    return Watchdog(lambda: instance, Alerter(tmp_path / "alerts.jsonl"), **settings)


@pytest.mark.parametrize(
    ("last", "now", "stalled"),
    [
        (T, T + timedelta(minutes=3), False),  # exactly three bars: not yet
        (T, T + timedelta(minutes=3, seconds=1), True),
        (None, T + timedelta(minutes=2), False),  # just started: time to produce one
        (None, T + timedelta(minutes=5), True),
        (T - timedelta(days=2), T + timedelta(minutes=1), False),  # restart after a weekend
    ],
)
def test_stalled_means_no_success_within_n_bars(last, now, stalled) -> None:
    problem = stall_problem(last, T, now, "1m", 3)
    assert (problem is not None) == stalled
    if problem:
        assert "more than 3 1m bars" in problem


def test_a_stalled_evaluation_alerts_once_and_its_recovery_once(instance, tmp_path) -> None:
    clock = Clock(utc_now())
    dog = watchdog(instance, tmp_path, clock)
    clock.now += timedelta(minutes=2)
    dog.check()
    assert alerts(tmp_path / "alerts.jsonl") == []
    clock.now += timedelta(minutes=2)
    dog.check()
    dog.check()  # still stalled: no second alert
    [alert] = alerts(tmp_path / "alerts.jsonl")
    assert (alert["severity"], alert["title"]) == ("critical", "strategy evaluation stalled")
    assert "no evaluate_strategy run succeeded for 240 s" in alert["message"]
    assert evaluate_strategy.execute_in_process(instance=instance).success
    clock.now = utc_now() + timedelta(minutes=1)
    dog.check()
    titles = [a["title"] for a in alerts(tmp_path / "alerts.jsonl")]
    assert titles == ["strategy evaluation stalled", "strategy evaluation stalled: recovered"]
    assert dog.last is not None and abs(dog.last - utc_now()) < timedelta(minutes=1)


def test_failed_runs_and_other_jobs_do_not_count_as_evaluations(instance, tmp_path) -> None:
    @dg.op
    def boom() -> None:
        raise RuntimeError("dbt failed")

    @dg.job(name="evaluate_strategy")
    def failing() -> None:
        boom()

    @dg.job(name="ingest_market")
    def ingest() -> None:
        decide()

    assert not failing.execute_in_process(instance=instance, raise_on_error=False).success
    assert ingest.execute_in_process(instance=instance).success
    clock = Clock(utc_now())
    dog = watchdog(instance, tmp_path, clock)
    clock.now += timedelta(minutes=4)
    dog.check()
    assert dog.last is None
    assert "none seen" in alerts(tmp_path / "alerts.jsonl")[0]["message"]


def test_an_unreadable_storage_counts_as_no_evaluation_and_says_why(tmp_path) -> None:
    def broken() -> dg.DagsterInstance:
        raise OSError("database is locked")

    clock = Clock(T)
    dog = Watchdog(
        broken, Alerter(tmp_path / "alerts.jsonl"), home=tmp_path, timeframe="1h",
        stalled_after_bars=1, min_free_gib=0, min_free_fraction=0, clock=clock,
    )  # fmt: skip
    clock.now += timedelta(hours=2)
    dog.check()
    [alert] = alerts(tmp_path / "alerts.jsonl")
    assert "Reading Dagster's storage failed: OSError: database is locked" in alert["message"]


def test_low_disk_space_alerts_once_and_recovers(instance, tmp_path) -> None:
    usage = {"free": 0.5 * GIB}
    clock = Clock(utc_now())
    dog = watchdog(
        instance, tmp_path, clock,
        disk_usage=lambda _: (100 * GIB, 100 * GIB - usage["free"], int(usage["free"])),
    )  # fmt: skip
    dog.check()
    dog.check()
    usage["free"] = 40 * GIB
    dog.check()
    titles = [a["title"] for a in alerts(tmp_path / "alerts.jsonl")]
    assert titles == [
        f"disk almost full under {tmp_path}",
        f"disk almost full under {tmp_path}: recovered",
    ]
    assert "0.50 GiB free of 100.0 GiB (0.5%)" in alerts(tmp_path / "alerts.jsonl")[0]["message"]


@pytest.mark.parametrize(
    ("free", "total", "low"),
    [
        (2 * GIB, 100 * GIB, True),  # 2 % of the disk
        (0.9 * GIB, 10 * GIB, True),  # under 1 GiB
        (6 * GIB, 100 * GIB, False),
        (0, 0, False),  # a disk that reports nothing: no verdict
    ],
)
def test_disk_is_low_below_either_limit(free, total, low) -> None:
    assert (disk_problem(int(free), int(total), GIB, 0.05) is not None) == low
