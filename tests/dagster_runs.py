"""Runs in a test instance in any status, as the daemon leaves them: what the in-flight
checks, the clean shutdown and retention read. A queued run needs the origin of a code
location (Dagster refuses one without); runs in other statuses are left without one, so that
run-status sensors built without a code location (``build_sensor_context``) still see them."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin


def _origin(job_name: str) -> RemoteJobOrigin:
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=__file__), location_name="tests"
    )
    return RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(
            code_location_origin=location, repository_name="__repository__"
        ),
        job_name=job_name,
    )


def add_run(
    instance: dg.DagsterInstance,
    job_name: str,
    status: dg.DagsterRunStatus,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, object] | None = None,
) -> dg.DagsterRun:
    queued = status == dg.DagsterRunStatus.QUEUED
    return instance.add_run(
        dg.DagsterRun(
            job_name=job_name,
            status=status,
            tags=dict(tags or {}),
            run_config=dict(run_config or {}),
            remote_job_origin=_origin(job_name) if queued else None,
        )
    )
