"""Partitions: daily x symbol for market data; the symbol universe comes from configuration."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg

from trading_core.config import MarketConfig
from trading_core.timeframes import key_to_symbol, symbol_to_key, timeframe_seconds

DATE_DIMENSION = "date"
SYMBOL_DIMENSION = "symbol"


def market_partitions(cfg: MarketConfig) -> dg.MultiPartitionsDefinition:
    """``2025-01-02|BTC-USDT``: one day of one symbol (every configured exchange/timeframe)."""
    return dg.MultiPartitionsDefinition(
        {
            DATE_DIMENSION: daily_partitions(cfg),
            SYMBOL_DIMENSION: dg.StaticPartitionsDefinition(
                [symbol_to_key(s) for s in cfg.symbols]
            ),
        }
    )


def daily_partitions(cfg: MarketConfig) -> dg.DailyPartitionsDefinition:
    """UTC days from the configured start, today included (the day in progress)."""
    return dg.DailyPartitionsDefinition(start_date=cfg.start_date.isoformat(), end_offset=1)


def split_key(partition_key: str | dg.MultiPartitionKey) -> tuple[date, str]:
    """``2025-01-02|BTC-USDT`` -> (date(2025, 1, 2), 'BTC/USDT')."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        keys = partition_key.keys_by_dimension
    else:
        parts = str(partition_key).split("|")
        if len(parts) != 2:
            raise ValueError(f"partition key {partition_key!r} is not of the form DATE|BASE-QUOTE")
        keys = dict(zip((DATE_DIMENSION, SYMBOL_DIMENSION), parts, strict=True))
    return date.fromisoformat(keys[DATE_DIMENSION]), key_to_symbol(keys[SYMBOL_DIMENSION])


def market_range_tags(first: date, last: date, symbol_keys: list[str]) -> dict[str, str]:
    """Run tags for the market partitions of every symbol from ``first`` to ``last``: one run
    over the range (symbol keys in the partitions definition's order)."""
    return {
        "dagster/asset_partition_range_start": f"{first.isoformat()}|{symbol_keys[0]}",
        "dagster/asset_partition_range_end": f"{last.isoformat()}|{symbol_keys[-1]}",
    }


def partition_key_for(day: date, symbol: str) -> str:
    return f"{day.isoformat()}|{symbol_to_key(symbol)}"


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day)
    return start, start + timedelta(days=1)


def market_freshness(cfg: MarketConfig) -> dg.FreshnessPolicy:
    """A stalled feed shows as stale: warn after 3 candles of the shortest timeframe without
    a new materialization, fail after 10 (at least 5 and 15 minutes)."""
    step = timedelta(seconds=min(timeframe_seconds(tf) for tf in cfg.timeframes))
    return dg.FreshnessPolicy.time_window(
        fail_window=max(10 * step, timedelta(minutes=15)),
        warn_window=max(3 * step, timedelta(minutes=5)),
    )


# Social, news and on-chain data land every 15 minutes.
ALT_DATA_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=2), warn_window=timedelta(minutes=45)
)
