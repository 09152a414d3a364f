"""New bar -> strategy evaluation.

Every raw/ohlcv materialization reports, in its metadata, the newest closed bar of each
series it wrote (``latest_bars``: ``exchange|symbol|timeframe`` -> ISO open time). The sensor
reads those events (never the warehouse: DuckDB locks the file across processes), and for
each series of the strategy's timeframe whose newest bar moved past the cursor, launches one
evaluation run. The cursor keeps the last bar evaluated per series and the last event read,
and the run key names the bars, so a bar is never evaluated twice; only the newest bar of a
series is evaluated (a strategy never trades on a bar that is already history).
"""

import json
from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg

from assets.strategy import order_intents
from trading_core.series import BarKey, SeriesKey
from trading_pipelines.jobs import AssetJob
from trading_pipelines.resources.strategy import StrategyResource

OHLCV_KEY = dg.AssetKey(["raw", "ohlcv"])
EVENTS_PER_TICK = 200


@dataclass
class BarCursor:
    storage_id: int = 0
    evaluated: dict[str, str] = field(default_factory=dict)  # series -> ISO bar open time

    @classmethod
    def load(cls, raw: str | None) -> "BarCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(int(data.get("storage_id", 0)), dict(data.get("evaluated", {})))

    def dump(self) -> str:
        return json.dumps({"storage_id": self.storage_id, "evaluated": self.evaluated})


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
        for series, ts in latest.items():
            bar = _bar(series, ts)
            if bar is None or bar.timeframe != timeframe:
                continue
            if bar.series not in newest or bar.ts.isoformat() > newest[bar.series].ts.isoformat():
                newest[bar.series] = bar
    return list(newest.values())


def build_new_bar_sensor(job: AssetJob) -> dg.SensorDefinition:
    # the bars are the config of the intents asset's op, whatever Dagster names it
    intents_op = order_intents.op.name

    @dg.sensor(
        name="new_bar_sensor",
        job=job,
        minimum_interval_seconds=10,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Launches a strategy evaluation for every new closed bar of raw/ohlcv.",
    )
    def new_bar_sensor(context: dg.SensorEvaluationContext, strategy: StrategyResource):
        cursor = BarCursor.load(context.cursor)
        result = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=OHLCV_KEY, after_storage_id=cursor.storage_id),
            limit=EVENTS_PER_TICK,
            ascending=True,
        )
        if not result.records:
            return dg.SkipReason("no new raw/ohlcv materialization")
        latest: list[dict[str, str]] = []
        for record in result.records:
            materialization = record.asset_materialization
            entry = materialization.metadata.get("latest_bars") if materialization else None
            if entry is not None:
                latest.append(entry.value)
        cursor.storage_id = result.records[-1].storage_id
        fresh = [
            bar
            for bar in newest_bars(latest, strategy.timeframe)
            if bar.ts.isoformat() > cursor.evaluated.get(str(bar.series), "")
        ]
        if not fresh:
            context.update_cursor(cursor.dump())
            return dg.SkipReason(f"no new {strategy.timeframe} bar since the last evaluation")
        cursor.evaluated.update({str(bar.series): bar.ts.isoformat() for bar in fresh})
        bars = sorted(str(bar) for bar in fresh)
        context.update_cursor(cursor.dump())
        return dg.RunRequest(
            run_key="evaluate:" + ";".join(bars),
            run_config={"ops": {intents_op: {"config": {"bars": bars}}}},
            tags={"trading/trigger": "new_bar", "trading/bars": str(len(bars))},
        )

    return new_bar_sensor
