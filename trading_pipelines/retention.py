"""Retention: what keeps a year of ``make run`` on a small disk (the supervisor calls these
every 10 minutes, ``trading_pipelines.upkeep``).

- **Dagster runs.** The live loop launches ~1,440 evaluations and ~1,440 ingests a day, each
  a run with its events (SQLite: one database file per run, ~420 KB for an evaluation, ~270
  KB for an ingest, plus its rows in the index) and compute logs.
  ``purge_runs`` deletes finished runs launched by a schedule, a sensor or automation once
  they are older than ``retention.run_days`` *and superseded*: every asset partition they
  materialized has a newer materialization. So each asset and partition keeps its latest
  materialization (the UI's partition status, a day's final candles, every daily report),
  and runs launched by hand or by a backfill are never purged.
- **dbt invocations.** dagster-dbt writes every invocation's manifest, run results and log
  to its own ``dbt_project/target/<op>-<run>-<id>/`` (~3 MB); a successful dbt step removes
  its own (``assets.dbt_models``), a failed one leaves it for diagnosis (a partition failing
  every minute: ~4 GB a day): ``purge_dbt_invocations`` deletes those older than
  ``retention.dbt_invocation_minutes``.
- **Logs and alerts.** ``rotate_copy_truncate`` rotates the children's logs (they keep the
  file open in append mode: copy, then truncate in place); ``rotate_rename`` rotates
  ``alerts.jsonl`` (its writers open it per alert: a rename loses nothing).

Tick history is pruned by Dagster itself (``retention:`` in dagster.yaml); the lake by
``trading_pipelines.lake_compaction``.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
from dagster._core.storage.event_log import SqliteEventLogStorage  # not exported by dagster

AUTOMATIC_TAGS = (
    "dagster/schedule_name",
    "dagster/sensor_name",
    "dagster/from_automation_condition",
)
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
PAGE = 200


@dataclass
class RunPurge:
    deleted: int = 0
    kept: int = 0  # old automatic runs that still hold the latest materialization of something


def is_automatic(run: dg.DagsterRun) -> bool:
    return any(tag in run.tags for tag in AUTOMATIC_TAGS)


class _Latest:
    """The run holding the newest materialization per asset and partition (cached per pass;
    run ids, not storage ids: SQLite numbers each run's events in its own file)."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance = instance
        self.runs: dict[tuple[dg.AssetKey, str | None], str | None] = {}

    def __call__(self, key: dg.AssetKey, partition: str | None) -> str | None:
        if (key, partition) not in self.runs:
            found = self.instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=key, asset_partitions=[partition] if partition else None
                ),
                limit=1,
            )
            self.runs[key, partition] = found.records[0].run_id if found.records else None
        return self.runs[key, partition]


def holds_latest(instance: dg.DagsterInstance, run_id: str, latest: _Latest) -> bool:
    """Whether a run wrote the newest materialization of any asset partition."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None or event.asset_key is None:
            continue
        if latest(event.asset_key, event.partition) == run_id:
            return True
    return False


def delete_run(instance: dg.DagsterInstance, run_id: str) -> None:
    """The run, its events, its SQLite event-log file and its compute logs."""
    instance.delete_run(run_id)
    storage = instance.event_log_storage
    if isinstance(storage, SqliteEventLogStorage):  # one database file per run
        shard = Path(storage.path_for_shard(run_id))
        for path in (
            shard,
            shard.with_name(shard.name + "-wal"),
            shard.with_name(shard.name + "-shm"),
        ):
            path.unlink(missing_ok=True)
    # a compute log manager that cannot delete keeps them
    with contextlib.suppress(NotImplementedError):
        instance.compute_log_manager.delete_logs(prefix=[run_id])


def purge_runs(
    instance: dg.DagsterInstance, older_than: datetime, *, max_deletes: int = 500
) -> RunPurge:
    """Delete superseded automatic runs created before ``older_than`` (UTC), oldest first,
    at most ``max_deletes`` per call: a backlog is worked off over several calls, and a call
    (~50 ms a run on SQLite) stays within the 30 s a Ctrl-C waits for the upkeep thread."""
    report = RunPurge()
    latest = _Latest(instance)
    doomed: list[str] = []
    cursor = None
    while len(doomed) < max_deletes:
        page = instance.get_run_records(
            dg.RunsFilter(statuses=FINISHED, created_before=older_than),
            limit=PAGE,
            cursor=cursor,
            ascending=True,
        )
        if not page:
            break
        cursor = page[-1].dagster_run.run_id
        for record in page:
            run = record.dagster_run
            if not is_automatic(run) or len(doomed) >= max_deletes:
                continue
            if holds_latest(instance, run.run_id, latest):
                report.kept += 1
            else:
                doomed.append(run.run_id)
    for run_id in doomed:  # after paging: the cursor must be a run that still exists
        delete_run(instance, run_id)
        report.deleted += 1
    return report


def purge_dbt_invocations(target: Path, older_than_seconds: float, now: float | None = None) -> int:
    """Delete the per-invocation folders under dbt's target path older than the limit (the
    project's own manifest and partial-parse files next to them stay)."""
    now = time.time() if now is None else now
    deleted = 0
    for folder in target.iterdir() if target.is_dir() else ():
        stale = now - folder.stat().st_mtime > older_than_seconds
        if folder.is_dir() and not folder.is_symlink() and stale:
            shutil.rmtree(folder, ignore_errors=True)
            deleted += 1
    return deleted


def _shift(path: Path, backups: int) -> None:
    """``name.(n-1)`` -> ``name.n`` ... ``name.1`` -> ``name.2``; the oldest falls off."""
    for n in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))


def rotate_copy_truncate(path: Path, max_bytes: int, backups: int) -> bool:
    """Rotate a file another process keeps open in append mode: copy it to ``name.1`` and
    truncate it in place (the writer's next append lands at the new end). A line written
    between the copy and the truncation is lost: the price of not restarting the writer."""
    if not path.is_file() or path.stat().st_size <= max_bytes:
        return False
    _shift(path, backups)
    shutil.copyfile(path, path.with_name(f"{path.name}.1"))
    with path.open("r+b") as handle:
        handle.truncate(0)
    return True


def rotate_rename(path: Path, max_bytes: int, backups: int) -> bool:
    """Rotate a file its writers open per write (alerts.jsonl): rename it to ``name.1``."""
    if not path.is_file() or path.stat().st_size <= max_bytes:
        return False
    _shift(path, backups)
    path.replace(path.with_name(f"{path.name}.1"))
    return True
