"""Schedules: the live market feed (keeps today's partitions current) and the daily report.

The live feed never piles up: while one of its runs is queued or running, a tick is skipped
(the next run ingests everything that closed meanwhile: today's partitions are incremental).
A tick is skipped too while a strategy evaluation is in flight: that run ingests the same
partitions at its bar close (the feed fills in the timeframes between evaluations).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from trading_core.config import MarketConfig, OperationsConfig
from trading_core.market.clock import market_clock, played_window
from trading_core.series import SeriesKey
from trading_core.timeframes import symbol_to_key, timeframe_delta, timeframe_seconds
from trading_pipelines.in_flight import LIVE_INGEST_LANE, lane_tags, runs_in_flight
from trading_pipelines.jobs import EVALUATE_STRATEGY, AssetJob
from trading_pipelines.partitions import market_range_tags

# A day's last candle closes at midnight: right after it, the run also covers yesterday.
ROLLOVER_MARGIN = timedelta(minutes=10)
# History played forward moves faster than the wall clock: its feed ticks every minute.
PLAYED_CRON = "* * * * *"
PLAYED_INTERVAL = timedelta(minutes=1)
# Materializations read to know how far each series is ingested (a few ticks' worth).
RECENT_INGESTS = 20
OHLCV_KEY = dg.AssetKey(["raw", "ohlcv"])


def cron_for(timeframes: list[str]) -> str:
    """Poll as often as the shortest timeframe closes a candle (at most every minute)."""
    seconds = min(timeframe_seconds(tf) for tf in timeframes)
    minutes = seconds // 60
    if minutes < 60:
        return "* * * * *" if minutes <= 1 else f"*/{minutes} * * * *"
    hours = minutes // 60
    return "1 * * * *" if hours <= 1 else f"1 */{min(hours, 23)} * * *"


def ingested_closes(instance: dg.DagsterInstance) -> tuple[datetime, datetime] | None:
    """(oldest, newest) of the newest bar close per series, as recent raw/ohlcv
    materializations report them (``latest_bars``); None before any."""
    newest: dict[str, datetime] = {}
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=OHLCV_KEY), limit=RECENT_INGESTS, ascending=False
    )
    for record in result.records:
        entry = record.asset_materialization and record.asset_materialization.metadata.get(
            "latest_bars"
        )
        for series, ts in (entry.value if entry else {}).items():
            try:
                close = datetime.fromisoformat(ts) + timeframe_delta(
                    SeriesKey.parse(series).timeframe
                )
            except (TypeError, ValueError):
                continue  # not a bar: the sensor skips it too
            newest[series] = max(close, newest.get(series, close))
    return (min(newest.values()), max(newest.values())) if newest else None


def live_market_schedule(
    job: AssetJob, cfg: MarketConfig, operations: OperationsConfig | None = None
) -> dg.ScheduleDefinition:
    """Live: the partitions of the wall clock's day as candles close. Over history played
    forward (``trading_core.market.clock``): every minute, the days the market clock crossed
    since the bars already ingested; once the data ends, every tick is skipped."""
    symbols = [symbol_to_key(s) for s in cfg.symbols]
    lane = lane_tags(LIVE_INGEST_LANE, (operations or OperationsConfig()).max_live_ingest_seconds)
    trigger = {"trading/trigger": "live_market"}
    played = cfg.as_of is not None and cfg.replay_started_at is not None

    @dg.schedule(
        name="live_market",
        job=job,
        cron_schedule=PLAYED_CRON if played else cron_for(cfg.timeframes),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "Ingests today's candles and order books for every symbol in one run as candles "
            "close (over history: as the market clock plays it forward); the new-bar sensor "
            "then evaluates the strategy."
        ),
    )
    def live_market(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        tick = context.scheduled_execution_time.astimezone(UTC).replace(tzinfo=None)
        first_day, last_day = (tick - ROLLOVER_MARGIN).date(), tick.date()
        the_end = None
        if played:
            clock = market_clock(cfg)
            window = played_window(clock, tick, PLAYED_INTERVAL, ingested_closes(context.instance))
            if window is None:
                return dg.SkipReason(
                    f"the replay reached the end of its data ({clock.end}): every bar is "
                    "ingested, nothing new will close"
                )
            first_day, last_day = max(window.first, cfg.start_date), window.last
            the_end = clock.end if window.reaches_end else None
        evaluating = runs_in_flight(context.instance, EVALUATE_STRATEGY)
        if evaluating:
            return dg.SkipReason(
                f"evaluation {evaluating[0]} ingests the same partitions at its bar close"
            )
        in_flight = runs_in_flight(context.instance, job.name, trigger)
        if in_flight:
            return dg.SkipReason(
                f"live ingest {in_flight[0]} is still in flight; the next run picks up the "
                "candles that close meanwhile"
            )
        if the_end is not None:
            context.log.info(
                f"the replay reaches the end of its data ({the_end}) with this run; later "
                "ticks ingest nothing (the UI, the journals and the executor stay up)"
            )
        return dg.RunRequest(
            tags={
                **market_range_tags(first_day, last_day, symbols),
                **lane,
                **trigger,
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


def daily_report_schedule(
    report_asset: dg.AssetsDefinition, cfg: MarketConfig | None = None
) -> dg.ScheduleDefinition:
    """Shortly after midnight UTC, the report of the day that just ended. Over history played
    forward (``cfg``), on the tick in which the market crossed midnight, the market's day that
    just ended."""
    job = dg.define_asset_job("daily_report", selection=[report_asset])
    played = cfg is not None and cfg.as_of is not None and cfg.replay_started_at is not None

    @dg.schedule(
        name="daily_report",
        job=job,
        cron_schedule=PLAYED_CRON if played else "15 0 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def daily_report(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        now = context.scheduled_execution_time.astimezone(UTC).replace(tzinfo=None)
        if played and cfg is not None:
            clock = market_clock(cfg)
            now, before = clock.at(now), clock.at(now - PLAYED_INTERVAL)
            if now.date() == before.date():
                return dg.SkipReason(f"the market's day {now.date()} has not ended")
        day = (now - timedelta(days=1)).date()
        return dg.RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())

    return daily_report
