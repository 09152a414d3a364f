"""Schedules: the live market feed (keeps today's partitions current) and the daily report."""

from __future__ import annotations

from datetime import UTC, timedelta

import dagster as dg

from trading_core.config import MarketConfig
from trading_core.timeframes import symbol_to_key, timeframe_seconds
from trading_pipelines.jobs import AssetJob

# A day's last candle closes at midnight: right after it, the run also covers yesterday.
ROLLOVER_MARGIN = timedelta(minutes=10)


def cron_for(timeframes: list[str]) -> str:
    """Poll as often as the shortest timeframe closes a candle (at most every minute)."""
    seconds = min(timeframe_seconds(tf) for tf in timeframes)
    minutes = seconds // 60
    if minutes < 60:
        return "* * * * *" if minutes <= 1 else f"*/{minutes} * * * *"
    hours = minutes // 60
    return "1 * * * *" if hours <= 1 else f"1 */{min(hours, 23)} * * *"


def live_market_schedule(job: AssetJob, cfg: MarketConfig) -> dg.ScheduleDefinition:
    symbols = [symbol_to_key(s) for s in cfg.symbols]

    @dg.schedule(
        name="live_market",
        job=job,
        cron_schedule=cron_for(cfg.timeframes),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "Ingests today's candles and order books for every symbol in one run as candles "
            "close; the new-bar sensor then evaluates the strategy."
        ),
    )
    def live_market(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        now = context.scheduled_execution_time.astimezone(UTC).replace(tzinfo=None)
        first_day = (now - ROLLOVER_MARGIN).date()
        return dg.RunRequest(
            tags={
                "dagster/asset_partition_range_start": f"{first_day.isoformat()}|{symbols[0]}",
                "dagster/asset_partition_range_end": f"{now.date().isoformat()}|{symbols[-1]}",
                "trading/trigger": "live_market",
            }
        )

    return live_market


def alt_data_schedule(job: AssetJob) -> dg.ScheduleDefinition:
    """Social, news and on-chain data for today (and yesterday just after midnight)."""

    @dg.schedule(
        name="alt_data",
        job=job,
        cron_schedule="*/15 * * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def alt_data(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        now = context.scheduled_execution_time.astimezone(UTC).replace(tzinfo=None)
        return dg.RunRequest(
            tags={
                "dagster/asset_partition_range_start": (now - ROLLOVER_MARGIN).date().isoformat(),
                "dagster/asset_partition_range_end": now.date().isoformat(),
            }
        )

    return alt_data


def daily_report_schedule(report_asset: dg.AssetsDefinition) -> dg.ScheduleDefinition:
    """Shortly after midnight UTC, the report of the day that just ended."""
    job = dg.define_asset_job("daily_report", selection=[report_asset])

    @dg.schedule(
        name="daily_report",
        job=job,
        cron_schedule="15 0 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def daily_report(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date()
        return dg.RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())

    return daily_report
