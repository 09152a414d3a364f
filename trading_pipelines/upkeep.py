"""The supervisor's care of a running ``make run``, beside restarting its children:

- every minute, the watchdog (``trading_pipelines.watchdog``): a stalled evaluation, a disk
  almost full;
- every 10 minutes, retention (``trading_pipelines.retention``,
  ``trading_pipelines.lake_compaction``);
- on Ctrl-C, before Dagster stops and after it stopped, the clean stop of its runs
  (``trading_pipelines.shutdown``).

It reads and writes Dagster's instance storage from the supervisor process (SQLite under
``DAGSTER_HOME`` or PostgreSQL, as the webserver and the daemon do), so it keeps working when
Dagster does not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from executor.alerts import ALERTS_FILE, Alerter
from trading_core.config import Paths, TradingConfig
from trading_pipelines.lake_compaction import compact_lake, reported_batches
from trading_pipelines.periodic import PeriodicTask
from trading_pipelines.retention import (
    purge_dbt_invocations,
    purge_runs,
    rotate_copy_truncate,
    rotate_rename,
)
from trading_pipelines.settings import DBT_PROJECT_DIR
from trading_pipelines.shutdown import cancel_runs, settle_runs
from trading_pipelines.watchdog import Watchdog

log = logging.getLogger("trading_pipelines.supervisor")

WATCHDOG_SECONDS = 60.0
RETENTION_SECONDS = 600.0
MIB = 1024**2


class Upkeep:
    def __init__(
        self,
        cfg: TradingConfig,
        root: Paths,
        alerter: Alerter,
        *,
        instance: Callable[[], dg.DagsterInstance] = dg.DagsterInstance.get,
        dbt_target: Path = DBT_PROJECT_DIR / "target",
    ):
        self.cfg = cfg
        self.root = root
        self.dbt_target = dbt_target
        self._open_instance = instance
        self._instance: dg.DagsterInstance | None = None
        self._stop_began: datetime | None = None
        ops = cfg.operations
        self.watchdog = Watchdog(
            self.instance,
            alerter,
            home=root.home,
            timeframe=cfg.strategy.timeframe,
            stalled_after_bars=ops.stalled_after_bars,
            min_free_gib=ops.min_free_gib,
            min_free_fraction=ops.min_free_fraction,
        )

    def instance(self) -> dg.DagsterInstance:
        """Opened on first use: after the bootstrap created the storage, never at import."""
        if self._instance is None:
            self._instance = self._open_instance()
        return self._instance

    def tasks(self) -> list[PeriodicTask]:
        return [
            PeriodicTask("watchdog", WATCHDOG_SECONDS, self.watchdog.check),
            PeriodicTask("retention", RETENTION_SECONDS, self.retention),
        ]

    def retention(self, now: datetime | None = None) -> dict[str, int]:
        """One pass of every retention policy; what it did, logged when it did anything."""
        now = now or datetime.now(UTC)
        keep = self.cfg.retention
        runs = purge_runs(self.instance(), now - timedelta(days=keep.run_days))
        before = (now - timedelta(days=keep.lake_compact_after_days)).date()
        lake = compact_lake(
            self.root.lake, before, lambda: reported_batches(self.root.ledger_url(), before)
        )
        logs = self.root.home / "logs"
        rotated = sum(
            rotate_copy_truncate(path, int(keep.log_max_mib * MIB), keep.log_backups)
            for path in sorted(logs.glob("*.log"))
        )
        rotated += rotate_rename(
            self.root.home / ALERTS_FILE, int(keep.alerts_max_mib * MIB), keep.alerts_backups
        )
        done = {
            "runs_deleted": runs.deleted,
            "runs_kept_as_latest": runs.kept,
            "dbt_invocations_deleted": purge_dbt_invocations(
                self.dbt_target, keep.dbt_invocation_minutes * 60, now.timestamp()
            ),
            "lake_days_compacted": lake.days,
            "lake_files_merged": lake.merged_files,
            "files_rotated": rotated,
        }
        if any(v for k, v in done.items() if k != "runs_kept_as_latest"):
            log.info("retention: " + ", ".join(f"{k} {v}" for k, v in done.items()))
        return done

    def before_stop(self) -> None:
        """Cancel queued runs and stop started ones while Dagster still runs."""
        self._stop_began = datetime.now(UTC)
        count = cancel_runs(self.instance())
        if count:
            log.info(f"canceled {count} Dagster run(s) before stopping Dagster")

    def after_stop(self) -> None:
        """Settle what Dagster left unfinished or our stop interrupted; close the storage."""
        if self._stop_began is not None:
            count = settle_runs(self.instance(), self._stop_began)
            if count:
                log.info(f"marked {count} interrupted Dagster run(s) canceled")
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None
