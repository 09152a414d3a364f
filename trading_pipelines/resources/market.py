"""Prices and order books from sim (seeded, offline), replay (files) or ccxt (any exchange)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import dagster as dg
from pydantic import BaseModel

from trading_core.config import MarketConfig
from trading_core.market.base import MarketSource
from trading_core.market.clock import MarketClock, market_clock
from trading_pipelines.resources.base import ConfigSection


class MarketDataResource(ConfigSection, dg.ConfigurableResource):
    """One market-data interface; ``source`` picks the backend: sim | replay | ccxt."""

    section: ClassVar[type[BaseModel]] = MarketConfig

    source: str
    exchanges: list[str]
    symbols: list[str]
    timeframes: list[str]
    start_date: str
    replay_dir: str | None
    sim_seed: int
    order_book_depth: int
    refetch_candles: int
    max_gap_candles: int
    max_gap_ratio: float
    max_abs_log_return: float
    spike_confirm_bars: int
    timestamp_unit: str | None
    archive_url: str | None
    as_of: str | None
    replay_pace_seconds: float
    replay_started_at: str | None

    def market_config(self) -> MarketConfig:
        """Validated settings (a bad value names the field and the allowed values)."""
        return self.settings()  # type: ignore[return-value]

    def clock(self) -> MarketClock:
        return market_clock(self.market_config())

    def now(self) -> datetime:
        """The market clock (naive UTC): the wall clock live, the played instant over
        history (``trading_core.market.clock``)."""
        return self.clock().now()

    def client(self) -> MarketSource:
        from trading_core.market.factory import make_market_source

        return make_market_source(self.market_config())
