"""New bars -> one strategy evaluation at a time, armed before the bar closes.

On the market clock (``market`` given: the code location passes it), the sensor requests the
evaluation of the bar about to close ``operations.arm_lead_seconds`` before its close (or
earlier when one of the last 5 evaluations took longer from request to start, as while a
backfill's runs hold the queue and the cores: the longest delay plus 5 s, at most half a bar): the
run launches while the bar is still open, its ingest step waits for the close
(``trading_core.market.bar_close``), fetches the bar, and the signal chain and the strategy
follow in the same run, so a bar's latency is its ingest, dbt and the strategy, not the
launch. The dbt data tests of the signal chain run in a ``signal_checks`` run between
evaluations (in the evaluation lane, never next to one).

Every raw/ohlcv materialization reports, in its metadata, the newest closed bar of each
series it wrote (``latest_bars``: ``exchange|symbol|timeframe`` -> ISO open time). The sensor
reads those events (never the warehouse: DuckDB locks the file across processes) and keeps,
in its cursor, the newest bar of each series of the strategy's timeframe that moved past the
last bar evaluated: the pending bars. When no ``evaluate_strategy`` run is queued or running,
it launches one run for every pending bar of every series; while one is in flight it waits,
and the bars that arrive meanwhile are folded into the next run (a newer bar of a series
replaces its older pending one: a strategy never trades on a bar that is already history).
So at most one evaluation is in flight and the queue stays bounded whatever the load. The run
key names the bars, so a bar is never evaluated twice.
"""

import functools
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import dagster as dg

from assets.ingest.bar_close import BAR_CLOSE_TAG, MAX_WAIT_TAG, SETTLE_TAG
from assets.strategy import order_intents
from trading_core.config import MarketConfig, OperationsConfig
from trading_core.market.bar_close import due_close, floor_close
from trading_core.market.clock import MarketClock, market_clock
from trading_core.series import BarKey, SeriesKey
from trading_core.timeframes import naive_utc, symbol_to_key, timeframe_delta, utc_now
from trading_pipelines.in_flight import (
    EVALUATION_LANE,
    arming_lead,
    lane_tags,
    last_launch_seconds,
    runs_in_flight,
)
from trading_pipelines.jobs import AssetJob
from trading_pipelines.partitions import market_range_tags
from trading_pipelines.resources.strategy import StrategyResource

OHLCV_KEY = dg.AssetKey(["raw", "ohlcv"])
EVENTS_PER_TICK = 200  # per page
MAX_PAGES = 50  # a tick reads at most 10,000 events; a larger backlog takes several ticks
CHECKS_TRIGGER = {"trading/trigger": "signal_checks"}
# an armed run waits for its close at most the lead plus this (a late sensor pass, a slow queue)
MAX_WAIT_MARGIN_SECONDS = 30.0
CHECKS_RUN_SECONDS = 25.0  # a signal_checks run starts only this long before the next arming


@dataclass
class BarCursor:
    storage_id: int = 0
    evaluated: dict[str, str] = field(default_factory=dict)  # series -> ISO bar open time
    pending: dict[str, str] = field(default_factory=dict)  # seen, not yet evaluated

    @classmethod
    def load(cls, raw: str | None) -> "BarCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            int(data.get("storage_id", 0)),
            dict(data.get("evaluated", {})),
            dict(data.get("pending", {})),
        )

    def dump(self) -> str:
        return json.dumps(
            {"storage_id": self.storage_id, "evaluated": self.evaluated, "pending": self.pending}
        )

    def add(self, bars: list[BarKey]) -> None:
        """Keep the bars newer than both the series' last evaluated and pending bars."""
        for bar in bars:
            series, ts = str(bar.series), bar.ts.isoformat()
            if ts > self.evaluated.get(series, "") and ts > self.pending.get(series, ""):
                self.pending[series] = ts

    def take(self) -> list[str]:
        """The pending bars, sorted, now counted as evaluated."""
        bars = sorted(
            str(BarKey(SeriesKey.parse(series), datetime.fromisoformat(ts)))
            for series, ts in self.pending.items()
        )
        self.evaluated.update(self.pending)
        self.pending = {}
        return bars


def _bar(series: str, ts: str) -> BarKey | None:
    try:
        return BarKey(SeriesKey.parse(series), datetime.fromisoformat(ts))
    except (TypeError, ValueError):
        return None


def evaluated_timeframes(strategy: StrategyResource) -> list[str]:
    """The timeframes the evaluation trades, finest first: every enabled strategy
    instance's (``strategies:``), else the one strategy's."""
    from trading_core.timeframes import TIMEFRAME_SECONDS

    found = {i["timeframe"] for i in strategy.instances if i.get("enabled", True)}
    return sorted(found or {strategy.timeframe}, key=lambda tf: TIMEFRAME_SECONDS[tf])


def newest_bars(
    events_metadata: list[dict[str, str]], timeframe: str | Collection[str]
) -> list[BarKey]:
    """The newest bar per series of ``timeframe`` (one, or several) across several events'
    ``latest_bars``.
    An entry that is not a series key with an ISO open time is not a bar: it is skipped (a
    sensor that raised on it would never move past it)."""
    wanted = {timeframe} if isinstance(timeframe, str) else set(timeframe)
    newest: dict[SeriesKey, BarKey] = {}
    for latest in events_metadata:
        if not isinstance(latest, dict):
            continue
        for series, ts in latest.items():
            bar = _bar(series, ts)
            if bar is None or bar.timeframe not in wanted:
                continue
            if bar.series not in newest or bar.ts.isoformat() > newest[bar.series].ts.isoformat():
                newest[bar.series] = bar
    return list(newest.values())


def _range_tags(bars: list[BarKey], symbols: list[str]) -> dict[str, str]:
    """Partition-range tags covering every symbol's days from the oldest bar's day to the day
    the newest bar closes in (its order-book snapshot lands there)."""
    first = min(bar.ts for bar in bars).date()
    last = max(bar.ts + timeframe_delta(bar.timeframe) for bar in bars).date()
    return market_range_tags(first, last, symbols)


def _read_events(
    context: dg.SensorEvaluationContext, cursor: BarCursor, timeframes: list[str]
) -> None:
    for _ in range(MAX_PAGES):  # the whole backlog: the run then covers the newest bars
        result = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=OHLCV_KEY, after_storage_id=cursor.storage_id),
            limit=EVENTS_PER_TICK,
            ascending=True,
        )
        if not result.records:
            break
        latest: list[dict[str, str]] = []
        for record in result.records:
            materialization = record.asset_materialization
            entry = materialization.metadata.get("latest_bars") if materialization else None
            if entry is not None:
                latest.append(entry.value)
        cursor.storage_id = result.records[-1].storage_id
        cursor.add(newest_bars(latest, timeframes))
        if not result.has_more:
            break


def _quiet_for(clock: MarketClock | None, timeframe: str, seconds: float) -> bool:
    """Whether no bar closes within ``seconds`` of wall time (room for a checks run)."""
    if clock is None:
        return True
    wall = utc_now()
    upcoming = floor_close(clock.at(wall), timeframe) + timeframe_delta(timeframe)
    at = clock.wall_at(upcoming)
    return at is None or (at - wall).total_seconds() >= seconds


def _checks_due(instance: dg.DagsterInstance, job_name: str, every: timedelta) -> bool:
    records = instance.get_run_records(dg.RunsFilter(job_name=job_name), limit=1)
    if not records:
        return True
    return utc_now() - naive_utc(records[0].create_timestamp) >= every


def build_new_bar_sensor(
    job: AssetJob,
    operations: OperationsConfig | None = None,
    market: MarketConfig | None = None,
    checks_job: AssetJob | None = None,
) -> dg.SensorDefinition:
    """``market``: arm evaluations on its clock (without it, only ingested bars trigger);
    ``checks_job``: the signal chain's data tests, run between evaluations."""
    # the bars are the config of the intents asset's op, whatever Dagster names it
    intents_op = order_intents.op.name
    ops = operations or OperationsConfig()
    tags = lane_tags(EVALUATION_LANE, ops.max_evaluation_seconds)
    symbols = [symbol_to_key(s) for s in market.symbols] if market else []
    clock = market_clock(market) if market else None
    jobs = [job, checks_job] if checks_job is not None else [job]

    @dg.sensor(
        name="new_bar_sensor",
        jobs=jobs,
        minimum_interval_seconds=1,  # the daemon's pass (about every 5 s) is the real bound
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Launches one strategy evaluation for the bar about to close (armed "
            "arm_lead_seconds before it; the run ingests it at the close) and for new bars of "
            "raw/ohlcv; bars that close while one is queued or running go into the next."
        ),
    )
    def new_bar_sensor(context: dg.SensorEvaluationContext, strategy: StrategyResource):
        cursor = BarCursor.load(context.cursor)
        timeframes = evaluated_timeframes(strategy)
        timeframe = timeframes[0]  # the finest: its closes come first
        _read_events(context, cursor, timeframes)
        bar_seconds = timeframe_delta(timeframe).total_seconds()
        # the lead reads the run storage: only on a tick where it can change the answer
        lead = functools.cache(
            lambda: arming_lead(
                ops.arm_lead_seconds, last_launch_seconds(context.instance, job.name), bar_seconds
            )
        )
        longest_lead = max(ops.arm_lead_seconds, bar_seconds / 2)  # arming_lead's bound
        if clock is not None and market is not None:
            wall = utc_now()
            for each in timeframes:
                close = due_close(clock, wall, each, 0.0)
                if due_close(clock, wall, each, longest_lead) != close:
                    close = due_close(clock, wall, each, lead())
                if close is None:
                    continue
                bar_ts = close - timeframe_delta(each)
                cursor.add(
                    [
                        BarKey(SeriesKey(exchange, symbol, each), bar_ts)
                        for exchange in market.exchanges
                        for symbol in market.symbols
                    ]
                )
        in_flight = runs_in_flight(context.instance, job.name)
        if not cursor.pending:
            context.update_cursor(cursor.dump())
            if (
                checks_job is not None
                and not in_flight
                and not runs_in_flight(context.instance, checks_job.name)
                and _quiet_for(clock, timeframe, lead() + CHECKS_RUN_SECONDS)
                and _checks_due(
                    context.instance,
                    checks_job.name,
                    timedelta(minutes=ops.signal_checks_every_minutes),
                )
            ):
                return dg.RunRequest(job_name=checks_job.name, tags={**tags, **CHECKS_TRIGGER})
            return dg.SkipReason(f"no new {timeframe} bar since the last evaluation")
        if in_flight:
            context.update_cursor(cursor.dump())
            return dg.SkipReason(
                f"evaluation {in_flight[0]} is in flight; {len(cursor.pending)} series with a "
                "new bar wait for the next run"
            )
        bars = cursor.take()
        context.update_cursor(cursor.dump())
        keys = [BarKey.parse(bar) for bar in bars]
        newest_close = max(key.ts + timeframe_delta(key.timeframe) for key in keys)
        run_tags = {
            **tags,
            "trading/trigger": "new_bar",
            "trading/bars": str(len(bars)),
            BAR_CLOSE_TAG: newest_close.isoformat(),
            SETTLE_TAG: str(ops.settle_seconds(market.source if market else "ccxt")),
            MAX_WAIT_TAG: str(lead() + MAX_WAIT_MARGIN_SECONDS),
        }
        if symbols:
            run_tags.update(_range_tags(keys, symbols))
        return dg.RunRequest(
            job_name=job.name,
            run_key="evaluate:" + ";".join(bars),
            run_config={"ops": {intents_op: {"config": {"bars": bars}}}},
            tags=run_tags,
        )

    return new_bar_sensor
