"""History from Binance's public archive, the rest from the exchange's REST API.

``ArchiveMarket`` wraps a live market source (``CcxtMarket``). For Binance candles it serves
each whole past month from the month's archive file, each whole past day of the current
month from the day's file, and everything else (the day in progress, a file not published
yet, a file that fails verification) from the wrapped source, page by page as before. Order
books, trades and the exchange clock always come from the wrapped source.

Nothing is dropped silently: every archive file that could not be used is listed in
``rejects`` with its reason (and logged), and its window is fetched over REST instead, so a
backfill gets the same candles either way, only faster.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from trading_core.market.base import OHLCV_COLUMNS, MarketSource, OrderBook
from trading_core.market.binance_archive import (
    ARCHIVE_TIMEFRAMES,
    ArchiveClient,
    ArchiveFile,
    ArchiveMissing,
    ArchiveRejected,
    daily_file,
    monthly_file,
    parse_klines,
)
from trading_core.timeframes import TIMEFRAME_SECONDS, naive_utc, utc_now

log = logging.getLogger(__name__)
ARCHIVE_EXCHANGE = "binance"


@dataclass(frozen=True)
class ArchiveReject:
    """An archive file that was not used, and why (its window came from REST)."""

    file: str
    reason: str
    missing: bool  # True: not published (404); False: published but failed verification


def plan_files(
    market: str, timeframe: str, start: datetime, end: datetime, now: datetime
) -> list[ArchiveFile]:
    """The archive files that cover whole periods of ``[start, end)`` closed before the UTC
    day of ``now``: months before ``now``'s month, then days of ``now``'s month before it.
    Windows the files leave out (partial periods at the edges, today) are for REST."""
    today = datetime(now.year, now.month, now.day)
    this_month = today.replace(day=1)
    files: list[ArchiveFile] = []
    month = datetime(start.year, start.month, 1)
    while month < min(end, this_month):
        file = monthly_file(market, timeframe, month)
        if start <= file.start and file.end <= end:
            files.append(file)
        month = file.end
    day = max(datetime(start.year, start.month, start.day), this_month)
    while day < min(end, today):
        file = daily_file(market, timeframe, day)
        if start <= file.start and file.end <= end:
            files.append(file)
        day = file.end
    return files


def _uncovered(
    start: datetime, end: datetime, covered: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The parts of ``[start, end)`` outside the sorted, disjoint ``covered`` windows."""
    holes, cursor = [], start
    for lo, hi in sorted(covered):
        if lo > cursor:
            holes.append((cursor, lo))
        cursor = max(cursor, hi)
    if cursor < end:
        holes.append((cursor, end))
    return holes


@dataclass
class ArchiveMarket:
    """A market source: Binance history from the archive, the rest from ``inner``."""

    inner: MarketSource
    client: ArchiveClient
    rejects: list[ArchiveReject] = field(default_factory=list)
    archive_candles: int = 0  # candles served from archive files (for run metadata)

    name: str = ""

    def __post_init__(self) -> None:
        self.name = f"{self.inner.name}+archive"

    def __getattr__(self, attribute: str) -> Any:  # trades, fetch_time, clients, ...
        if attribute == "inner":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(attribute)
        return getattr(self.inner, attribute)

    def fetch_order_book(
        self, exchange: str, symbol: str, depth: int, at: datetime | None = None
    ) -> OrderBook:
        return self.inner.fetch_order_book(exchange, symbol, depth, at)

    def fetch_ohlcv(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:
        """Closed candles with open time in ``[start, end)``, sorted, as the wrapped source
        would return them."""
        start, end = naive_utc(start), naive_utc(end)
        clock = naive_utc(now) if now is not None else naive_utc(utc_now())
        if exchange != ARCHIVE_EXCHANGE or timeframe not in ARCHIVE_TIMEFRAMES:
            return self.inner.fetch_ohlcv(exchange, symbol, timeframe, start, end, now)
        market = symbol.replace("/", "")
        step = TIMEFRAME_SECONDS[timeframe]
        frames, covered = [], []
        for file in plan_files(market, timeframe, start, end, clock):
            try:
                body = self.client.fetch(file)
                frames.append(parse_klines(body, file, exchange, symbol, step))
                covered.append((file.start, file.end))
            except (ArchiveMissing, ArchiveRejected) as exc:
                missing = isinstance(exc, ArchiveMissing)
                self.rejects.append(ArchiveReject(file.name, str(exc), missing))
                (log.info if missing else log.warning)("archive: %s; using REST", exc)
        self.archive_candles += sum(len(f) for f in frames)
        for lo, hi in _uncovered(start, end, covered):
            frames.append(self.inner.fetch_ohlcv(exchange, symbol, timeframe, lo, hi, now))
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=OHLCV_COLUMNS)
        candles = pd.concat(frames, ignore_index=True)
        closed = candles["ts"] + pd.Timedelta(seconds=step) <= pd.Timestamp(clock)
        return candles[closed].sort_values("ts", kind="stable").reset_index(drop=True)
