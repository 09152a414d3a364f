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
