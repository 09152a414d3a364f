"""Retention (``trading_pipelines.retention``) on a real SQLite Dagster instance with real
runs: old automatic runs are purged with their event files and compute logs once superseded;
recent runs, runs launched by hand and the run holding an asset partition's latest
materialization are kept. Then dbt's per-invocation folders, and log and alert rotation."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from executor.alerts import Alerter
from trading_core.config import Paths, TradingConfig
from trading_pipelines.retention import (
    purge_dbt_invocations,
    purge_runs,
    rotate_copy_truncate,
    rotate_rename,
)
from trading_pipelines.upkeep import Upkeep

DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-03")
SENSOR = {"dagster/sensor_name": "new_bar_sensor"}
SCHEDULE = {"dagster/schedule_name": "live_market"}
FAILS = {"value": False}


@dg.asset(partitions_def=DAYS)
def candles() -> None:
    if FAILS["value"]:
        raise RuntimeError("exchange down")


@dg.asset
def signals() -> None:
    return None


def run(instance, asset, tags=None, partition=None) -> str:
    result = dg.materialize(
        [asset], instance=instance, tags=tags, partition_key=partition, raise_on_error=False
    )
    return result.run_id


def created(instance: dg.DagsterInstance, run_id: str) -> datetime:
    return instance.get_run_record_by_id(run_id).create_timestamp


def test_superseded_old_automatic_runs_are_purged_and_the_rest_kept(instance) -> None:
    old_signals = run(instance, signals, SENSOR)
    last_of_day_one = run(instance, candles, SCHEDULE, "2026-01-01")
    old_day_two = run(instance, candles, SCHEDULE, "2026-01-02")
    by_hand = run(instance, signals)  # launched from the UI or the CLI: never purged
    FAILS["value"] = True
    failed = run(instance, candles, SCHEDULE, "2026-01-02")  # no materialization at all
    FAILS["value"] = False
    recent_signals = run(instance, signals, SENSOR)
    recent_day_two = run(instance, candles, SCHEDULE, "2026-01-02")
    storage = instance.event_log_storage
    shard = Path(storage.path_for_shard(old_signals))
    logs = Path(instance.compute_log_manager._base_dir) / old_signals
    assert shard.is_file() and logs.is_dir()

    report = purge_runs(instance, created(instance, recent_signals))

    remaining = {r.dagster_run.run_id for r in instance.get_run_records()}
    assert remaining == {last_of_day_one, by_hand, recent_signals, recent_day_two}
    assert {old_signals, old_day_two, failed}.isdisjoint(remaining)
    assert (report.deleted, report.kept) == (3, 1)
    assert not shard.exists() and not logs.exists()
    # every asset partition keeps its latest materialization
    assert instance.get_materialized_partitions(candles.key) == {"2026-01-01", "2026-01-02"}
    latest = instance.get_latest_materialization_event(signals.key)
    assert latest.run_id == recent_signals
    # a second pass finds nothing more to delete
    assert purge_runs(instance, created(instance, recent_signals)).deleted == 0


def test_a_backlog_is_worked_off_over_several_passes(instance) -> None:
    ids = [run(instance, signals, SENSOR) for _ in range(4)]
    cutoff = created(instance, ids[-1])
    assert [purge_runs(instance, cutoff, max_deletes=2).deleted for _ in range(3)] == [2, 1, 0]
    assert [r.dagster_run.run_id for r in instance.get_run_records()] == [ids[-1]]


def test_dbt_invocation_folders_older_than_the_limit_are_deleted(tmp_path: Path) -> None:
    target = tmp_path / "target"
    (target / "dbt_models-abc1234-1111111").mkdir(parents=True)
    (target / "dbt_models-abc1234-1111111" / "manifest.json").write_text("{}")
    (target / "dbt_models-def5678-2222222").mkdir()
    (target / "manifest.json").write_text("{}")  # the project's own: kept
    elsewhere = tmp_path / "keep"
    elsewhere.mkdir()
    (target / "link").symlink_to(elsewhere, target_is_directory=True)
    now = 1_800_000_000.0
    old = now - 2 * 86_400
    for path in (target / "dbt_models-abc1234-1111111", target / "manifest.json"):
        os.utime(path, (old, old))
    os.utime(target / "dbt_models-def5678-2222222", (now - 60, now - 60))
    os.utime(target / "link", (old, old), follow_symlinks=False)
    assert purge_dbt_invocations(target, 86_400, now) == 1
    assert sorted(p.name for p in target.iterdir()) == [
        "dbt_models-def5678-2222222", "link", "manifest.json",
    ]  # fmt: skip
    assert elsewhere.is_dir()
    assert purge_dbt_invocations(tmp_path / "missing", 1, now) == 0


def test_a_log_held_open_by_its_writer_is_copied_and_truncated(tmp_path: Path) -> None:
    log = tmp_path / "executor.log"
    with log.open("ab") as writer:  # how the supervisor hands a log to its child
        for round_ in range(4):
            writer.write(f"round {round_}\n".encode() * 50)
            writer.flush()
            assert rotate_copy_truncate(log, 100, backups=2)
        writer.write(b"after\n")
        writer.flush()
    assert log.read_bytes() == b"after\n"  # appended at the new end: no hole of NULs
    assert (tmp_path / "executor.log.1").read_text().startswith("round 3")
    assert (tmp_path / "executor.log.2").read_text().startswith("round 2")
    assert not (tmp_path / "executor.log.3").exists()
    assert not rotate_copy_truncate(log, 100, backups=2)  # small: left alone
    assert not rotate_copy_truncate(tmp_path / "missing.log", 1, backups=2)


def test_alerts_are_rotated_by_size_without_losing_one(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    alerter = Alerter(path)
    for n in range(20):
        alerter.send("warning", "t", f"alert {n}")
    assert rotate_rename(path, 200, backups=3)
    alerter.send("warning", "t", "alert 20")
    rotated = (tmp_path / "alerts.jsonl.1").read_text().splitlines()
    assert len(rotated) == 20 and len(path.read_text().splitlines()) == 1


def test_one_upkeep_pass_applies_every_policy(instance, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "dagster.log").write_bytes(b"x" * 3000)
    (home / "logs" / "dagster.log.1").write_bytes(b"older")  # a copy: not rotated itself
    for _ in range(3):
        run(instance, signals, SENSOR)
    cfg = TradingConfig.model_validate({"retention": {"run_days": 0.0001, "log_max_mib": 0.001}})
    upkeep = Upkeep(
        cfg, Paths(home), Alerter(home / "alerts.jsonl"), instance=lambda: instance,
        dbt_target=tmp_path / "target",
    )  # fmt: skip
    done = upkeep.retention(now=datetime.now(UTC) + timedelta(days=1))
    assert done["runs_deleted"] == 2 and done["runs_kept_as_latest"] == 1
    assert done["files_rotated"] == 1 and done["lake_days_compacted"] == 0
    assert (home / "logs" / "dagster.log.2").read_bytes() == b"older"
