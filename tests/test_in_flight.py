"""One run in flight per lane of the live loop: the live-market schedule skips while its last
run is unfinished, every lane run carries its limits, and the instance enforces them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.dagster_runs import add_run
from trading_core.config import MarketConfig, OperationsConfig
from trading_pipelines.in_flight import (
    IN_FLIGHT_STATUSES,
    arming_lead,
    lane_tags,
    last_launch_seconds,
    runs_in_flight,
)
from trading_pipelines.instance import instance_settings
from trading_pipelines.jobs import ingest_market_job
from trading_pipelines.partitions import market_partitions
from trading_pipelines.schedules import live_market_schedule

TICK = datetime(2026, 1, 5, 12, 30)


def evaluate(schedule: dg.ScheduleDefinition, instance: dg.DagsterInstance):
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK)
    return schedule.evaluate_tick(context)


@pytest.fixture
def schedule() -> dg.ScheduleDefinition:
    cfg = MarketConfig()
    job = ingest_market_job(market_partitions(cfg))
    return live_market_schedule(job, cfg, OperationsConfig(max_live_ingest_seconds=90))


def test_live_ingest_runs_carry_their_lane_and_maximum_run_time(schedule) -> None:
    with dg.instance_for_test() as instance:
        [request] = evaluate(schedule, instance).run_requests
    assert request.tags["trading/lane"] == "live_ingest"
    assert request.tags["dagster/max_runtime"] == "90"
    assert request.tags["trading/trigger"] == "live_market"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-01-05|SOL-USDT"


@pytest.mark.parametrize("status", IN_FLIGHT_STATUSES)
def test_live_ingest_waits_for_its_unfinished_run(schedule, status) -> None:
    with dg.instance_for_test() as instance:
        [request] = evaluate(schedule, instance).run_requests
        run = add_run(instance, "ingest_market", status, request.tags)
        result = evaluate(schedule, instance)
        assert not result.run_requests
        assert f"live ingest {run.run_id} is still in flight" in result.skip_message
        instance.report_run_canceled(instance.get_run_by_id(run.run_id))
        assert evaluate(schedule, instance).run_requests  # finished: the feed goes on


def test_the_live_feed_skips_while_an_evaluation_ingests_the_same_partitions(schedule) -> None:
    with dg.instance_for_test() as instance:
        run = add_run(instance, "evaluate_strategy", dg.DagsterRunStatus.STARTED)
        result = evaluate(schedule, instance)
        assert not result.run_requests
        assert f"evaluation {run.run_id} ingests the same partitions" in result.skip_message
        instance.report_run_canceled(instance.get_run_by_id(run.run_id))
        assert evaluate(schedule, instance).run_requests


def test_a_backfill_of_the_same_job_does_not_hold_the_live_feed(schedule) -> None:
    with dg.instance_for_test() as instance:
        add_run(instance, "ingest_market", dg.DagsterRunStatus.QUEUED, {"dagster/backfill": "b"})
        assert evaluate(schedule, instance).run_requests
        assert runs_in_flight(instance, "ingest_market") != []


@pytest.mark.parametrize("seconds", [0, -5])
def test_a_lane_needs_a_positive_maximum_run_time(seconds: int) -> None:
    with pytest.raises(ValueError, match="max_runtime_seconds must be positive"):
        lane_tags("evaluation", seconds)


def test_the_instance_limits_each_lane_and_monitors_run_times(tmp_path: Path) -> None:
    """The dagster.yaml `make run` writes: a run of a lane never starts next to another of
    the same lane, and run monitoring enforces dagster/max_runtime."""
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance_settings({})))
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert instance.run_monitoring_enabled
    finally:
        instance.dispose()
    for lane in ("evaluation", "live_ingest"):
        assert {"key": "trading/lane", "value": lane, "limit": 1} in limits


@pytest.mark.parametrize(
    ("configured", "launched_in", "bar", "lead"),
    [
        (12.0, None, 60.0, 12.0),  # no run yet: as configured
        (12.0, 3.0, 60.0, 12.0),  # a quick start never arms later than configured
        (12.0, 20.0, 60.0, 25.0),  # a slow start (a backfill's runs): that delay + 5 s
        (12.0, 100.0, 60.0, 30.0),  # never more than half a bar
        (40.0, 100.0, 60.0, 40.0),  # the configured lead wins over the cap
        (12.0, 100.0, 3600.0, 105.0),
    ],
)
def test_the_arming_lead_covers_the_last_runs_start(
    configured: float, launched_in: float | None, bar: float, lead: float
) -> None:
    assert arming_lead(configured, launched_in, bar) == lead


def test_the_last_runs_start_is_read_from_the_instance() -> None:
    @dg.asset
    def quick() -> None:
        return None

    with dg.DagsterInstance.ephemeral() as instance:
        assert last_launch_seconds(instance, "__ephemeral_asset_job__") is None
        assert dg.materialize([quick], instance=instance).success
        seconds = last_launch_seconds(instance, "__ephemeral_asset_job__")
        assert seconds is not None and 0 <= seconds < 60
        assert last_launch_seconds(instance, "evaluate_strategy") is None


def test_the_start_delay_is_the_longest_of_the_last_runs() -> None:
    @dg.asset
    def quick() -> None:
        return None

    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(3):
            assert dg.materialize([quick], instance=instance).success
        records = instance.get_run_records()
        delays = [r.start_time - r.create_timestamp.timestamp() for r in records]
        job = "__ephemeral_asset_job__"
        assert last_launch_seconds(instance, job) == pytest.approx(max(delays))
        assert last_launch_seconds(instance, job, runs=1) == pytest.approx(delays[0])
