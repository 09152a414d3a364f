"""Runs in flight: what keeps the live loop from piling up runs.

At most one strategy evaluation and one live ingest are queued or running at a time. The
new-bar sensor and the live-market schedule ask ``runs_in_flight`` before requesting a run
and skip while one is in flight (the sensor keeps the bars it saw pending and folds them into
the next run), so the queue holds at most one run of each lane whatever the load. The run
coordinator's tag limits (``dagster.yaml``: ``trading/lane``) are the second guard: a run of
a lane never starts next to another of the same lane, whoever launched it. Every run of a
lane carries ``dagster/max_runtime``: run monitoring fails a hung one, which frees the lane.
"""

from __future__ import annotations

import dagster as dg

LANE_TAG = "trading/lane"
EVALUATION_LANE = "evaluation"
LIVE_INGEST_LANE = "live_ingest"
MAX_RUNTIME_TAG = "dagster/max_runtime"
ARMING_MARGIN_SECONDS = 5.0  # armed this much earlier than the last runs took to start
LAUNCH_HISTORY_RUNS = 5  # how many finished runs that start delay is the longest of

# Every status of a run that is not finished: it holds (or will hold) its lane.
IN_FLIGHT_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def lane_tags(lane: str, max_runtime_seconds: int) -> dict[str, str]:
    """The tags of a run of ``lane``: its concurrency limit and its maximum run time."""
    if max_runtime_seconds <= 0:
        raise ValueError(f"max_runtime_seconds must be positive, got {max_runtime_seconds}")
    return {LANE_TAG: lane, MAX_RUNTIME_TAG: str(int(max_runtime_seconds))}


def runs_in_flight(
    instance: dg.DagsterInstance, job_name: str, tags: dict[str, str] | None = None
) -> list[str]:
    """Ids of the unfinished runs of ``job_name`` (with ``tags``), oldest first."""
    records = instance.get_run_records(
        dg.RunsFilter(job_name=job_name, statuses=IN_FLIGHT_STATUSES, tags=tags or {}),
        limit=10,
        ascending=True,
    )
    return [record.dagster_run.run_id for record in records]


def last_launch_seconds(
    instance: dg.DagsterInstance, job_name: str, runs: int = LAUNCH_HISTORY_RUNS
) -> float | None:
    """The longest created -> started (queue wait and process start) of the newest ``runs``
    finished runs of ``job_name``, or None before the first."""
    records = instance.get_run_records(
        dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=runs
    )
    delays = [
        max(0.0, r.start_time - r.create_timestamp.timestamp())
        for r in records
        if r.start_time is not None
    ]
    return max(delays) if delays else None


def arming_lead(configured: float, launched_in: float | None, bar_seconds: float) -> float:
    """How long before a close to arm its evaluation: ``configured``, or longer when the last
    runs took longer to start (``launched_in``: a backfill's runs hold the queue and the
    cores) - that delay plus ``ARMING_MARGIN_SECONDS`` - but never more than half a bar."""
    if launched_in is None:
        return configured
    return max(configured, min(launched_in + ARMING_MARGIN_SECONDS, bar_seconds / 2))
