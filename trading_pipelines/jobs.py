"""Jobs: market ingest (partitioned) and strategy evaluation (new bar -> signals -> intents)."""

from __future__ import annotations

from typing import Protocol

import dagster as dg

from assets.signal_history import SIGNAL_HISTORY_KEY
from assets.strategy import INTENTS_KEY
from trading_pipelines.dbt import EVALUATION_MODELS
from trading_pipelines.in_flight import LANE_TAG

# Run priority (dagster/priority): the queue dequeues, and a pool hands its free slot to, the
# highest first; everything else runs at 0.
PRIORITY_TAG = "dagster/priority"
LIVE_PRIORITY = "10"
RESEARCH_PRIORITY = "-10"
RESEARCH_LANE = "research"


class AssetJob(Protocol):
    """What ``dg.define_asset_job`` returns, as far as schedules and sensors rely on it:
    dagster 1.13 does not export that class (it lives in ``dagster._core``)."""

    @property
    def name(self) -> str: ...


ALT_KEYS = [
    dg.AssetKey(["raw", name])
    for name in ("reddit_posts", "x_posts", "news_items", "onchain_metrics")
]
MARKET_KEYS = [dg.AssetKey(["raw", "ohlcv"]), dg.AssetKey(["raw", "order_book_snapshots"])]
# Partitioned market data off the live path (README: trades tape, funding, open interest)
TAPE_KEYS = [dg.AssetKey(["raw", n]) for n in ("trades", "funding_rates", "open_interest")]


def ingest_market_job(partitions_def: dg.PartitionsDefinition) -> AssetJob:
    return dg.define_asset_job(
        "ingest_market",
        selection=dg.AssetSelection.assets(*MARKET_KEYS),
        partitions_def=partitions_def,
        description="Candles and order books for a range of days x symbols, in one run.",
    )


def ingest_alt_data_job(partitions_def: dg.PartitionsDefinition) -> AssetJob:
    return dg.define_asset_job(
        "ingest_alt_data",
        selection=dg.AssetSelection.assets(*ALT_KEYS),
        partitions_def=partitions_def,
        description="Reddit, X, news and on-chain metrics for a range of days, in one run.",
    )


# What a new bar changes on the way to the composite signal: the bar itself (raw candles and
# the order book at its close, for the range of partitions the sensor names), then the dbt
# models tagged `evaluation` (candles, order-book features, indicators, regimes, the
# point-in-time inputs, the signal; selected by tag so a renamed model stays in), then the
# strategy. One run per bar (or per batch of bars that closed while one ran): the run is
# armed before the close and its ingest waits for it (sensors/new_bars.py). The dbt data
# tests of those models run off the bar's path, in `signal_checks`; the ingest's own checks
# (Great Expectations, gap policy) stay in, they decide which partitions the signal sees.
# History behind the live edge (a backfill) is deferred by the dbt pass and folded after the
# intents, by `signals/history` (assets/signal_history.py).
EVALUATION_PATH = (
    dg.AssetSelection.assets(*MARKET_KEYS)
    | EVALUATION_MODELS.without_checks()
    | dg.AssetSelection.assets(INTENTS_KEY, SIGNAL_HISTORY_KEY)
)


EVALUATE_STRATEGY = "evaluate_strategy"


def evaluate_strategy_job(partitions_def: dg.PartitionsDefinition) -> AssetJob:
    return dg.define_asset_job(
        EVALUATE_STRATEGY,
        selection=EVALUATION_PATH,
        partitions_def=partitions_def,
        description="New bar -> candles and order book -> indicators and composite signal "
        "(dbt) -> strategy -> intents, in one run.",
        # first out of the run queue and first to the warehouse pool's slot (README: priorities)
        tags={PRIORITY_TAG: LIVE_PRIORITY},
    )


signal_checks_job = dg.define_asset_job(
    "signal_checks",
    selection=EVALUATION_MODELS - EVALUATION_MODELS.without_checks(),
    description="The dbt data tests of the signal chain, between evaluations.",
)

refresh_job = dg.define_asset_job(
    "refresh_unpartitioned",
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.assets(*MARKET_KEYS, *ALT_KEYS, *TAPE_KEYS)
    - dg.AssetSelection.groups("reports", "research", "execution", "exports"),
    description="Every unpartitioned asset: all dbt models, the strategy's intents and the "
    "cockpit's snapshot (exports and reports run on request or on their schedule).",
)

research_job = dg.define_asset_job(
    "research",
    selection=dg.AssetSelection.groups("research"),
    description="A snapshot of the warehouse's candles, then backtests, sweeps and walk-forward "
    "validation on it (research.duckdb).",
    # last out of the queue, and one research run at a time (dagster.yaml: trading/lane)
    tags={PRIORITY_TAG: RESEARCH_PRIORITY, LANE_TAG: RESEARCH_LANE},
)
