"""Jobs: market ingest (partitioned) and strategy evaluation (new bar -> signals -> intents)."""

from __future__ import annotations

from typing import Protocol

import dagster as dg

from assets.strategy import INTENTS_KEY


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

# What a new bar changes on the way to the composite signal: candles, order-book features,
# indicators, regimes, the point-in-time inputs and the signal. Evaluation runs rebuild it
# first, so the strategy sees the new bar's signal. (Sentiment models refresh on their own
# when social data lands.)
SIGNAL_CHAIN = dg.AssetSelection.assets(
    *(
        dg.AssetKey([name])
        for name in (
            "stg_ohlcv", "stg_order_book_snapshots", "int_order_book_features",
            "int_indicators", "int_regimes", "int_signal_inputs", "fct_signals",
        )
    )
)  # fmt: skip


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


evaluate_strategy_job = dg.define_asset_job(
    "evaluate_strategy",
    selection=SIGNAL_CHAIN | dg.AssetSelection.assets(INTENTS_KEY),
    description="New bar -> indicators and composite signal (dbt) -> strategy -> intents.",
)

refresh_job = dg.define_asset_job(
    "refresh_unpartitioned",
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.assets(*MARKET_KEYS, *ALT_KEYS)
    - dg.AssetSelection.groups("reports", "research", "execution"),
    description="Every unpartitioned asset: all dbt models and the strategy's intents.",
)

research_job = dg.define_asset_job(
    "research",
    selection=dg.AssetSelection.groups("research"),
    description="Backtests, sweeps and walk-forward validation on the warehouse's candles.",
)
