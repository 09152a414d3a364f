"""The market clock: what "now" is for ingest, the live schedule and the executor.

Live, it is the wall clock. Over history (``market.as_of`` set) the market starts at
``as_of``; once ``make run`` has anchored it to a wall instant (``market.replay_started_at``)
it moves forward at ``market.replay_pace_seconds`` wall seconds per bar of the shortest
configured timeframe, until the replayed data ends (or the market catches up with the wall
clock). Without an anchor it stands still at ``as_of`` (a one-off materialization of a past
instant). It is a pure function of (start, wall start, pace): every process that loads the
same configuration computes the same market instant for the same wall instant.

``history_start`` is where ``make run`` starts the played market: the errors it raises name
the variable to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from trading_core.config import ConfigError, MarketConfig
from trading_core.market.replay import ReplaySeries
from trading_core.timeframes import naive_utc, timeframe_seconds, utc_now


@dataclass(frozen=True)
class MarketClock:
    """``start`` None: the wall clock. Otherwise the market stood at ``start`` at
    ``wall_start`` (None: it stands still) and moves ``speed`` market seconds per wall
    second, never past ``end`` nor past the wall clock."""

    start: datetime | None = None
    wall_start: datetime | None = None
    speed: float = 1.0
    end: datetime | None = None

    @property
    def moving(self) -> bool:
        """History played forward (not the wall clock, not a fixed instant)."""
        return self.start is not None and self.wall_start is not None

    def at(self, wall: datetime) -> datetime:
        """The market instant at wall instant ``wall`` (naive UTC out; aware in is converted)."""
        wall = naive_utc(wall)
        if self.start is None:
            return wall
        moment = self.start
        if self.wall_start is not None:
            elapsed = max((wall - self.wall_start).total_seconds(), 0.0)
            moment = self.start + timedelta(seconds=elapsed * self.speed)
        return min(moment, wall, self.end or moment)

    def now(self) -> datetime:
        return self.at(utc_now())

    def wall_at(self, moment: datetime) -> datetime | None:
        """The wall instant at which the market reaches ``moment`` (naive UTC); None if it
        never does (a market standing still short of it, or data ending before it)."""
        moment = naive_utc(moment)
        if self.start is None:
            return moment
        if self.end is not None and moment > self.end:
            return None
        if moment <= self.start:
            return max(self.wall_start, moment) if self.wall_start else moment
        if self.wall_start is None:
            return None
        elapsed = (moment - self.start).total_seconds() / self.speed
        # the market never runs ahead of the wall clock
        return max(self.wall_start + timedelta(seconds=elapsed), moment)

    def ended(self, wall: datetime) -> bool:
        """Whether the played data has run out by wall instant ``wall``."""
        return self.end is not None and self.start is not None and self.at(wall) >= self.end


def configured_series(cfg: MarketConfig) -> list[ReplaySeries]:
    return [
        ReplaySeries(exchange, symbol, timeframe)
        for exchange in cfg.exchanges
        for symbol in cfg.symbols
        for timeframe in cfg.timeframes
    ]


def data_span(cfg: MarketConfig) -> tuple[datetime, datetime] | None:
    """When the configured market's data begins and ends: replay files have a span; the sim
    and ccxt have none (None)."""
    if cfg.source != "replay" or cfg.replay_dir is None:
        return None
    from trading_core.market.replay_coverage import replay_span

    return replay_span(cfg.replay_dir, configured_series(cfg))


def market_clock(cfg: MarketConfig) -> MarketClock:
    """The clock of this configuration (see the module docstring)."""
    if cfg.as_of is None:
        return MarketClock()
    bar = min(timeframe_seconds(tf) for tf in cfg.timeframes)
    span = data_span(cfg)
    return MarketClock(
        start=cfg.as_of,
        wall_start=cfg.replay_started_at,
        speed=bar / cfg.replay_pace_seconds,
        end=span[1] if span else None,
    )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def history_start(
    cfg: MarketConfig,
    span: tuple[datetime, datetime] | None,
    warmup_days: int,
    now: datetime,
    reached: datetime | None = None,
) -> datetime | None:
    """Where ``make run`` starts the market; None: live (the wall clock).

    ``market.as_of`` when set; otherwise, for replay data that ends before ``now``, midnight
    after ``warmup_days`` full days of data from ``market.start_date`` (bootstrap ingests
    those days, so indicators are warm from the first played bar). A later instant this
    TRADING_HOME already ``reached`` wins: a restart resumes, and the market never goes back
    over bars the warehouse already holds.
    """
    if cfg.as_of is None and (span is None or span[1] >= now):
        return None
    if span is not None:
        first, end = span
        if cfg.as_of is None:
            # the first full day of data
            first_day = first.date() + timedelta(days=first != _midnight(first.date()))
            start = _midnight(max(cfg.start_date, first_day) + timedelta(days=warmup_days))
            if start > end:
                raise ConfigError(
                    f"market.start_date (env TRADING_START_DATE) {cfg.start_date} leaves no "
                    f"history to play: {warmup_days} warm-up days from it end at {start}, "
                    f"after the replay data ends ({end}); allowed: a date before "
                    f"{(end - timedelta(days=warmup_days)).date()}, or set TRADING_MARKET_AS_OF"
                )
        else:
            start = cfg.as_of
            if not first < start <= end:
                raise ConfigError(
                    f"market.as_of (env TRADING_MARKET_AS_OF) {start} is outside the replay "
                    f"data, which runs from {first} to {end}; allowed: an instant after {first} "
                    f"until {end}"
                )
    else:
        assert cfg.as_of is not None  # no span means sim or ccxt, which are live without it
        start = cfg.as_of
    if reached is not None and reached > start:
        start = reached if span is None else min(reached, span[1])
    return start


def bootstrap_days(start: datetime, start_date: date, days: int) -> tuple[date, date] | None:
    """The daily partitions bootstrap ingests before the market starts at ``start``: the
    ``days`` days up to the one holding the last instant before ``start`` (the day in
    progress when ``start`` is not a midnight), none before ``start_date``. None: none."""
    last = (start - timedelta(microseconds=1)).date()
    first = max(last - timedelta(days=days - 1), start_date)
    return (first, last) if first <= last else None


@dataclass(frozen=True)
class PlayedWindow:
    """The daily partitions one tick of the played market ingests."""

    first: date
    last: date
    reaches_end: bool  # this tick's market instant is the end of the data


def played_window(
    clock: MarketClock,
    tick: datetime,
    interval: timedelta,
    ingested: tuple[datetime, datetime] | None,
) -> PlayedWindow | None:
    """What a tick at wall instant ``tick`` of a moving clock ingests: from the day of the
    older of the previous tick's market instant and the oldest series' newest close already
    ``ingested`` (so a skipped tick leaves no hole), to the day of this tick's market instant.
    ``ingested``: (oldest, newest) of the newest bar close per series. None once every bar of
    the data is in (the newest close reached the end)."""
    if clock.end is not None and ingested is not None and ingested[1] >= clock.end:
        return None
    now = clock.at(tick)
    since = clock.at(tick - interval)
    if ingested is not None:
        since = min(since, ingested[0])
    first = (since - timedelta(microseconds=1)).date()  # a close at midnight ends the day before
    return PlayedWindow(first, now.date(), clock.end is not None and now >= clock.end)
