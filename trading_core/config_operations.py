"""The ``operations`` and ``retention`` sections: guards and upkeep of the live loop.

How long a run may take, when a stalled loop or a full disk alerts, when a bar's ingest
fetches it, and what the supervisor's upkeep deletes or rotates.
"""

from __future__ import annotations

from pydantic import Field

from trading_core.config_base import SectionModel


class OperationsConfig(SectionModel):
    """Guards of the live loop (``trading_pipelines.in_flight``, ``trading_pipelines.watchdog``)."""

    # Dagster run monitoring ends an evaluation or live-ingest run that runs longer
    # (tag dagster/max_runtime): a hung run fails (and alerts) instead of blocking the lane.
    max_evaluation_seconds: int = Field(default=600, ge=30, le=86_400)
    max_live_ingest_seconds: int = Field(default=600, ge=30, le=86_400)
    # The supervisor alerts when no evaluate_strategy run has succeeded for this many bars of
    # the strategy's timeframe (it runs outside Dagster, so a dead daemon is noticed too).
    stalled_after_bars: int = Field(default=3, ge=1, le=1000)
    # The new-bar sensor requests an evaluation this many wall seconds before its bar closes
    # (the run's launch overlaps the bar's last seconds; its ingest waits for the close:
    # trading_core.market.bar_close). 0: only after the close.
    arm_lead_seconds: float = Field(default=12.0, ge=0, le=300)
    # ... and fetches the bar this long after the close (exchanges finalise a candle late).
    # Unset: 1 s for an exchange (ccxt), 0 for the offline sources (sim, replay), whose bar is
    # final at its close (``settle_seconds``).
    close_settle_seconds: float | None = Field(default=None, ge=0, le=60)

    def settle_seconds(self, market_source: str) -> float:
        """How long after a bar's close its ingest fetches it, for this market source."""
        if self.close_settle_seconds is not None:
            return self.close_settle_seconds
        return 1.0 if market_source == "ccxt" else 0.0

    # History behind the live edge (a backfill of earlier days, an old correction, a changed
    # indicator recipe) is folded into the signal chain at most this many rows per dbt run,
    # market by market (trading_core.incremental_history): a year's backfill cannot hold the
    # warehouse pool for long in the live evaluation's dbt step.
    signal_history_rows_per_run: int = Field(default=150_000, ge=1_000, le=100_000_000)
    # The dbt data tests of the signal chain run off the bar's path, in a `signal_checks`
    # run between evaluations, at most this often.
    signal_checks_every_minutes: int = Field(default=15, ge=1, le=1440)
    # ... and when the disk holding TRADING_HOME has less free space than either limit.
    min_free_gib: float = Field(default=1.0, ge=0)
    min_free_fraction: float = Field(default=0.05, ge=0, lt=1)


class RetentionConfig(SectionModel):
    """What the supervisor's upkeep deletes every 10 minutes (``trading_pipelines.retention``)."""

    # Finished runs launched by schedules, sensors or automation, older than this, whose
    # every asset materialization has a newer one, are deleted with their events and logs
    # (the live loop makes ~3,000 runs a day of ~0.5 MB each on SQLite).
    run_days: float = Field(default=1.0, gt=0, le=3650)
    # dagster-dbt's folder per dbt invocation (dbt_project/target/<op>-<run>-<id>/, ~3 MB:
    # manifest, run results, log) that a failed dbt step left for diagnosis (a successful
    # one removes its own), deleted once older than this.
    dbt_invocation_minutes: float = Field(default=120.0, gt=0)
    # Lake batches reported to Dagster, of a day older than this, are merged into one file
    # per stream and day (every row kept: the journals are rebuilt from the lake).
    lake_compact_after_days: int = Field(default=2, ge=1, le=3650)
    # Logs under TRADING_HOME/logs and alerts.jsonl are rotated past this size, keeping
    # this many older copies (<name>.1 is the newest).
    log_max_mib: float = Field(default=20.0, gt=0)
    log_backups: int = Field(default=3, ge=1, le=100)
    alerts_max_mib: float = Field(default=5.0, gt=0)
    alerts_backups: int = Field(default=3, ge=1, le=100)
