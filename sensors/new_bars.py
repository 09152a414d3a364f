"""New bars -> one strategy evaluation at a time.

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

import json
from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg

from assets.strategy import order_intents
from trading_core.config import OperationsConfig
from trading_core.series import BarKey, SeriesKey
from trading_pipelines.in_flight import EVALUATION_LANE, lane_tags, runs_in_flight
from trading_pipelines.jobs import AssetJob
from trading_pipelines.resources.strategy import StrategyResource

OHLCV_KEY = dg.AssetKey(["raw", "ohlcv"])
EVENTS_PER_TICK = 200  # per page
MAX_PAGES = 50  # a tick reads at most 10,000 events; a larger backlog takes several ticks


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


def newest_bars(events_metadata: list[dict[str, str]], timeframe: str) -> list[BarKey]:
    """The newest bar per series of ``timeframe`` across several events' ``latest_bars``.
    An entry that is not a series key with an ISO open time is not a bar: it is skipped (a
    sensor that raised on it would never move past it)."""
    newest: dict[SeriesKey, BarKey] = {}
    for latest in events_metadata:
        if not isinstance(latest, dict):
            continue
        for series, ts in latest.items():
            bar = _bar(series, ts)
            if bar is None or bar.timeframe != timeframe:
                continue
            if bar.series not in newest or bar.ts.isoformat() > newest[bar.series].ts.isoformat():
                newest[bar.series] = bar
    return list(newest.values())


def build_new_bar_sensor(
    job: AssetJob, operations: OperationsConfig | None = None
) -> dg.SensorDefinition:
    # the bars are the config of the intents asset's op, whatever Dagster names it
    intents_op = order_intents.op.name
    tags = lane_tags(EVALUATION_LANE, (operations or OperationsConfig()).max_evaluation_seconds)

    @dg.sensor(
        name="new_bar_sensor",
        job=job,
        minimum_interval_seconds=10,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Launches one strategy evaluation for the new closed bars of raw/ohlcv; bars that "
            "close while one is queued or running go into the next."
        ),
    )
    def new_bar_sensor(context: dg.SensorEvaluationContext, strategy: StrategyResource):
        cursor = BarCursor.load(context.cursor)
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
            cursor.add(newest_bars(latest, strategy.timeframe))
            if not result.has_more:
                break
        if not cursor.pending:
            context.update_cursor(cursor.dump())
            return dg.SkipReason(f"no new {strategy.timeframe} bar since the last evaluation")
        in_flight = runs_in_flight(context.instance, job.name)
        if in_flight:
            context.update_cursor(cursor.dump())
            return dg.SkipReason(
                f"evaluation {in_flight[0]} is in flight; {len(cursor.pending)} series with a "
                "new bar wait for the next run"
            )
        bars = cursor.take()
        context.update_cursor(cursor.dump())
        return dg.RunRequest(
            run_key="evaluate:" + ";".join(bars),
            run_config={"ops": {intents_op: {"config": {"bars": bars}}}},
            tags={**tags, "trading/trigger": "new_bar", "trading/bars": str(len(bars))},
        )

    return new_bar_sensor
