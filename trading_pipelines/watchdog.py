"""The supervisor's watchdog: alerts that must not depend on Dagster being alive.

- **Stalled evaluation.** Dagster's own alerts (a failure sensor) die with its daemon, and a
  run that hangs never fails until run monitoring ends it. The supervisor reads the end time
  of the last successful ``evaluate_strategy`` run from the instance's storage every minute
  and alerts when it is older than ``operations.stalled_after_bars`` bars of the strategy's
  timeframe (counted from the watchdog's start at the earliest, so a restart gets time to
  produce one). A storage it cannot read counts as no evaluation, with the error named.
- **Disk space.** Free space on the disk holding ``TRADING_HOME`` below
  ``operations.min_free_gib`` or ``operations.min_free_fraction`` of the disk.

Each is an ``Incident``: one alert when it starts, one ``recovered`` when it ends.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from executor.alerts import Alerter
from trading_core.timeframes import timeframe_delta, utc_now

log = logging.getLogger("trading_pipelines.watchdog")

EVALUATION_JOB = "evaluate_strategy"
GIB = 1024**3


class Incident:
    """Alerts once when a problem appears and once when it clears."""

    def __init__(self, alerter: Alerter, title: str, severity: str = "critical"):
        self.alerter = alerter
        self.title = title
        self.severity = severity
        self.problem: str | None = None

    def update(self, problem: str | None) -> None:
        if problem and self.problem is None:
            log.error(f"{self.title}: {problem}")
            self.alerter.send(self.severity, self.title, problem)
        elif problem is None and self.problem is not None:
            log.info(f"{self.title}: recovered")
            self.alerter.send("info", f"{self.title}: recovered", "back to normal")
        self.problem = problem


def last_evaluation(
    instance: dg.DagsterInstance, job_name: str = EVALUATION_JOB
) -> datetime | None:
    """End time (naive UTC) of the newest successful run of ``job_name``, or None."""
    records = instance.get_run_records(
        dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
    )
    if not records or records[0].end_time is None:
        return None
    return datetime.fromtimestamp(records[0].end_time, UTC).replace(tzinfo=None)


def stall_problem(
    last: datetime | None, since: datetime, now: datetime, timeframe: str, bars: int
) -> str | None:
    """Why the evaluation looks stalled, or None: no success within ``bars`` bars."""
    limit = timeframe_delta(timeframe) * bars
    reference = max(last, since) if last is not None else since
    if now - reference <= limit:
        return None
    seen = f"the last one ended {last.isoformat(timespec='seconds')}" if last else "none seen"
    return (
        f"no {EVALUATION_JOB} run succeeded for {int((now - reference).total_seconds())} s, "
        f"more than {bars} {timeframe} bars ({seen}): trading is not evaluating new bars. "
        "Check the Dagster daemon, the run queue and the new_bar_sensor."
    )


def disk_problem(
    free: int, total: int, min_free_bytes: int, min_free_fraction: float
) -> str | None:
    """Why free disk space is too low, or None."""
    if total <= 0:
        return None
    if free >= min_free_bytes and free / total >= min_free_fraction:
        return None
    return (
        f"{free / GIB:.2f} GiB free of {total / GIB:.1f} GiB ({free / total:.1%}), below "
        f"{min_free_bytes / GIB:.2f} GiB or {min_free_fraction:.0%}: the warehouse, the lake "
        "and Dagster's storage will fail to write"
    )


class Watchdog:
    """Runs both checks; ``check()`` is called every minute by the supervisor's upkeep."""

    def __init__(
        self,
        instance: Callable[[], dg.DagsterInstance],
        alerter: Alerter,
        *,
        home: Path,
        timeframe: str,
        stalled_after_bars: int,
        min_free_gib: float,
        min_free_fraction: float,
        clock: Callable[[], datetime] = utc_now,
        disk_usage: Callable[[Path], tuple[int, int, int]] = shutil.disk_usage,
    ):
        self._instance = instance
        self.home = home
        self.timeframe = timeframe
        self.bars = stalled_after_bars
        self.min_free_bytes = int(min_free_gib * GIB)
        self.min_free_fraction = min_free_fraction
        self._clock = clock
        self._disk_usage = disk_usage
        self.since = clock()
        self.last: datetime | None = None
        self.stalled = Incident(alerter, "strategy evaluation stalled")
        self.disk = Incident(alerter, f"disk almost full under {home}")

    def check(self) -> None:
        now = self._clock()
        error = ""
        try:
            self.last = last_evaluation(self._instance()) or self.last
        except Exception as exc:  # the storage may be locked or down: say so in the alert
            error = f" Reading Dagster's storage failed: {type(exc).__name__}: {exc}"
        problem = stall_problem(self.last, self.since, now, self.timeframe, self.bars)
        self.stalled.update(problem + error if problem else None)
        try:
            total, _, free = self._disk_usage(self.home)
        except OSError as exc:
            self.disk.update(f"cannot read the disk usage of {self.home}: {exc}")
            return
        self.disk.update(disk_problem(free, total, self.min_free_bytes, self.min_free_fraction))
