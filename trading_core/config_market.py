"""The ``market`` section of the trading configuration: where candles and books come from.

The source (simulator, replay directory or a ccxt exchange), the exchanges, symbols and
timeframes ingested, the first daily partition, the gap and spike policies applied to the
candles, and the as-of instant the market is viewed (and played forward) from.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from trading_core.config_base import SectionModel, no_duplicates
from trading_core.quality.limits import (
    DEFAULT_CONFIRM_BARS,
    DEFAULT_MAX_GAP_CANDLES,
    DEFAULT_MAX_GAP_RATIO,
    MAX_CONFIRM_BARS,
)
from trading_core.timeframes import TIMEFRAME_SECONDS, naive_utc, utc_now

MarketSource = Literal["sim", "replay", "ccxt"]
TimestampUnit = Literal["iso", "s", "ms", "us", "ns"]  # candle_file.EPOCH_UNITS + iso


class MarketConfig(SectionModel):
    source: MarketSource = "sim"
    # Exchange ids. `sim` for the simulator; any ccxt id (binance, kraken, ...) for ccxt;
    # for replay, the file prefix in TRADING_REPLAY_DIR (binance_BTCUSDT_1h.csv -> binance).
    exchanges: list[str] = Field(default_factory=lambda: ["sim"], min_length=1)
    # Unified ccxt symbols (BTC/USDT). Partition keys use BTC-USDT.
    symbols: list[str] = Field(
        default_factory=lambda: ["BTC/USDT", "ETH/USDT", "SOL/USDT"], min_length=1
    )
    timeframes: list[str] = Field(default_factory=lambda: ["1m", "1h"], min_length=1)
    # First daily partition of raw/ohlcv and raw/order_book_snapshots.
    start_date: date = date(2025, 1, 1)
    replay_dir: Path | None = None
    sim_seed: int = 7
    order_book_depth: int = Field(default=20, ge=1, le=5000)
    # Candles re-fetched on every incremental run: exchanges correct late data.
    refetch_candles: int = Field(default=3, ge=0)
    # Gap policy (trading_core/quality/gap_policy.py): every missing candle is reported as a
    # WARN with its position; a partition is blocked (kept out of the signals) only when one
    # series misses more than max_gap_candles consecutive candles, or more than max_gap_ratio
    # of one UTC day's candles (24 for 1h, 1 for 1d). Exactly at a limit is allowed.
    max_gap_candles: int = Field(default=DEFAULT_MAX_GAP_CANDLES, ge=0)
    max_gap_ratio: float = Field(default=DEFAULT_MAX_GAP_RATIO, ge=0, le=1)
    max_abs_log_return: float = Field(default=0.25, gt=0)
    # Spike hold (trading_core/quality/spike_policy.py): a held bar is released once this
    # many later bars confirm its level (none reverts toward the old one).
    spike_confirm_bars: int = DEFAULT_CONFIRM_BARS
    # Unit of epoch timestamps in replay files: iso | s | ms | us | ns; None: detected from
    # their magnitude (trading_core/market/candle_file.py). A line in another unit is
    # quarantined, never read in the wrong unit.
    timestamp_unit: TimestampUnit | None = None
    # Binance history from its public kline archive (trading_core/market/archive_source.py)
    # when market.source is ccxt: the archive's base URL (https://data.binance.vision), or
    # None for REST only. Files are verified by sha256 and cached in TRADING_HOME/archive.
    archive_url: str | None = None
    # View the market as of this instant (naive UTC): only candles closed by then exist.
    # Paper trading over history (replay, sim) sets it; None: the wall clock. `make run`
    # plays the market forward from it (trading_core.market.clock).
    as_of: datetime | None = None
    # Wall seconds per bar of the shortest timeframe while `make run` plays history forward.
    replay_pace_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # The wall instant (naive UTC) at which the played market stood at as_of: set by
    # `make run` for the processes it starts. None: the market stands still at as_of.
    replay_started_at: datetime | None = None

    @field_validator("archive_url")
    @classmethod
    def _archive_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"archive_url {value!r} is not an http(s) URL; e.g. https://data.binance.vision"
            )
        return value

    @field_validator("timeframes")
    @classmethod
    def _known_timeframes(cls, value: list[str]) -> list[str]:
        bad = [tf for tf in value if tf not in TIMEFRAME_SECONDS]
        if bad:
            raise ValueError(f"unknown timeframe(s) {bad}; allowed: {list(TIMEFRAME_SECONDS)}")
        return value

    @field_validator("symbols")
    @classmethod
    def _unified_symbols(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if s.count("/") != 1 or any(c in s for c in "|,[] ")]
        if bad:
            raise ValueError(f"symbols must look like BASE/QUOTE (e.g. BTC/USDT); got {bad}")
        return value

    _unique = field_validator("exchanges", "symbols", "timeframes")(no_duplicates)

    @field_validator("spike_confirm_bars", mode="before")
    @classmethod
    def _whole_bars(cls, value: object) -> int:
        bars = value.strip() if isinstance(value, str) else value
        if isinstance(bars, str) and bars.lstrip("-").isdigit():
            bars = int(bars)
        if isinstance(bars, float) and bars.is_integer():
            bars = int(bars)
        if isinstance(bars, bool) or not isinstance(bars, int) or not 1 <= bars <= MAX_CONFIRM_BARS:
            raise ValueError(
                f"must be a whole number of bars; allowed: an integer from 1 to {MAX_CONFIRM_BARS}"
            )
        return bars

    @field_validator("start_date")
    @classmethod
    def _past_start(cls, value: date) -> date:
        today = utc_now().date()
        if value >= today:
            raise ValueError(
                f"{value} is not in the past (today is {today} UTC): the first daily partition "
                f"must be a day that has ended; allowed: a date before {today}"
            )
        return value

    @field_validator("as_of", "replay_started_at")
    @classmethod
    def _naive_utc_past(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        moment = naive_utc(value)
        now = utc_now()
        if moment > now:
            raise ValueError(f"{moment} is in the future (now {now:%Y-%m-%dT%H:%M:%S} UTC)")
        start = info.data.get("start_date")
        if info.field_name == "as_of" and start is not None and moment.date() < start:
            raise ValueError(
                f"{moment} is before market.start_date (env TRADING_START_DATE) {start}; "
                f"allowed: an instant from {start} until now"
            )
        return moment

    @model_validator(mode="after")
    def _played_from_as_of(self) -> MarketConfig:
        if self.replay_started_at is not None and self.as_of is None:
            raise ValueError(
                "replay_started_at (env TRADING_REPLAY_STARTED_AT) is set without as_of "
                "(env TRADING_MARKET_AS_OF): it anchors the market played from as_of"
            )
        return self
