"""Replay backend: candles (and order-book snapshots) from files, with the semantics of the
live backends.

Layout (the one of ``../shared/data/market``): ``{exchange}_{BASEQUOTE}_{timeframe}.csv`` or
``.parquet`` with columns ``timestamp,open,high,low,close,volume``; ``timestamp`` is the candle
OPEN time, ISO-8601 UTC (naive ISO strings are read as UTC) or epoch numbers whose unit is
detected from their magnitude or declared (``timestamp_unit``): a line in another unit is
rejected, never read in the wrong one. A well-formed file is read columnar (pyarrow); any
other goes line by line (``trading_core.market.candle_file``): each bad line is rejected alone
with its line number and reason (``rejected_lines``), and a file is refused only when no line
of it can be read.
File symbols map to unified ones with a list of known quote currencies (``BTCUSDT`` ->
``BTC/USDT``; a ``PERP`` suffix marks a linear perpetual: ``XRPUSDTPERP`` -> ``XRP/USDT:USDT``).
Files whose names do not follow the layout are ignored (they are not candles, e.g. funding).

Semantics shared with sim and ccxt: only closed candles relative to ``now`` (``now=None``
replays everything), real gaps stay gaps (never filled). Unlike the live backends, rows come
back **in file order**, duplicates included: the replayed file is the "exchange", and the
quality checks must be able to see a shuffled or duplicated file. The warehouse writer sorts;
the checks report.

Order books: a recorded snapshot (``{exchange}_{BASEQUOTE}_depth_{date}.json`` in the order
book directory, with ``bids``/``asks`` as ``[price, amount]`` best first and a ``timestamp``)
is used when one was taken less than ``max_snapshot_age`` before the requested instant;
otherwise the book is **synthesized** around the last closed candle's close with the sim's
book model and its ``source`` says ``replay:synthetic``.

The rooms: the layout's file names in ``replay_files``, reading a candle file in
``replay_candles``, reading a snapshot in ``replay_snapshots``; this module is the market that
serves them (and re-exports what other code imports from here).
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from trading_core.market.base import OHLCV_COLUMNS, MarketDataError, OrderBook, empty_ohlcv
from trading_core.market.candle_file import EPOCH_UNITS
from trading_core.market.replay_candles import PRICE_COLUMNS, read_candle_file, read_candles
from trading_core.market.replay_files import (
    DEPTH_FILE,
    KNOWN_QUOTES,
    PERP_SUFFIX,
    ReplaySeries,
    file_symbol_to_unified,
    scan_candle_files,
    unified_to_file_symbol,
)
from trading_core.market.replay_snapshots import read_snapshot
from trading_core.market.sim_book import synthesize_book
from trading_core.market.sim_profile import stable_hash, tick_for_price
from trading_core.timeframes import TIMEFRAME_SECONDS, naive_utc, timeframe_delta

__all__ = [
    "KNOWN_QUOTES",
    "PERP_SUFFIX",
    "PRICE_COLUMNS",
    "SYNTHETIC_SOURCE",
    "ReplayMarket",
    "ReplaySeries",
    "file_symbol_to_unified",
    "read_candle_file",
    "read_candles",
    "scan_candle_files",
    "unified_to_file_symbol",
]

SYNTHETIC_SOURCE = "replay:synthetic"


class ReplayMarket:
    """Candles and books replayed from a directory (implements ``MarketSource``)."""

    name = "replay"

    def __init__(
        self,
        market_dir: Path | str,
        order_book_dir: Path | str | None = None,
        max_snapshot_age: timedelta = timedelta(minutes=5),
        seed: int = 7,
        timestamp_unit: str | None = None,
    ) -> None:
        """``order_book_dir`` defaults to ``<market_dir>/../orderbooks`` when it exists;
        ``timestamp_unit`` declares the unit of epoch timestamps (default: detected)."""
        if timestamp_unit not in (None, "iso", *EPOCH_UNITS):
            raise MarketDataError(
                f"timestamp_unit must be iso, {', '.join(EPOCH_UNITS)} or None (detect); "
                f"got {timestamp_unit!r}"
            )
        self.timestamp_unit = timestamp_unit
        self.market_dir = Path(market_dir)
        if not self.market_dir.is_dir():
            raise MarketDataError(f"replay directory {self.market_dir} is not a directory")
        default_books = self.market_dir.parent / "orderbooks"
        self.order_book_dir = (
            Path(order_book_dir)
            if order_book_dir is not None
            else (default_books if default_books.is_dir() else None)
        )
        self.max_snapshot_age = max_snapshot_age
        self.seed = seed
        self._files = scan_candle_files(self.market_dir)
        self._snapshots = self._scan_snapshots()
        self._frames: dict[Path, tuple[pd.DataFrame, bool]] = {}
        self._rejected: dict[Path, pd.DataFrame] = {}
        self._books: dict[Path, OrderBook] = {}
        self._book_rejects: dict[Path, list[dict]] = {}
        self._lock = threading.Lock()

    def _scan_snapshots(self) -> dict[tuple[str, str], list[Path]]:
        found: dict[tuple[str, str], list[Path]] = {}
        if self.order_book_dir is None or not self.order_book_dir.is_dir():
            return found
        for path in sorted(self.order_book_dir.iterdir()):
            match = DEPTH_FILE.match(path.name)
            if match:
                try:
                    symbol = file_symbol_to_unified(match["pair"])
                except ValueError:
                    continue
                found.setdefault((match["exchange"], symbol), []).append(path)
        return found

    def available(self) -> list[ReplaySeries]:
        """Every (exchange, symbol, timeframe) the directory holds, sorted."""
        return sorted(self._files)

    def candles(self, exchange: str, symbol: str, timeframe: str) -> pd.DataFrame:
        """The whole parsed file (``ts`` + prices, file order); parsed once, then cached."""
        return self._parsed(exchange, symbol, timeframe)[0]

    def span(self, exchange: str, symbol: str, timeframe: str) -> tuple[datetime, datetime] | None:
        """When a series begins and ends: its first candle's open and its last candle's close
        (the range a replay can play); None for a file without candles."""
        ts = self.candles(exchange, symbol, timeframe)["ts"]
        if ts.empty:
            return None
        return ts.min().to_pydatetime(), (ts.max() + timeframe_delta(timeframe)).to_pydatetime()

    def _parsed(self, exchange: str, symbol: str, timeframe: str) -> tuple[pd.DataFrame, bool]:
        """The parsed file and whether its ``ts`` is strictly increasing (then windows are
        cut by binary search)."""
        path = self._files.get(ReplaySeries(exchange, symbol, timeframe))
        if path is None:
            offered = [s for s in self._files if s.exchange == exchange] or self.available()
            raise MarketDataError(
                f"replay has no candles for exchange={exchange!r} symbol={symbol!r} "
                f"timeframe={timeframe!r} in {self.market_dir}; available: "
                + ", ".join(f"{s.exchange} {s.symbol} {s.timeframe}" for s in offered)
            )
        with self._lock:
            cached = self._frames.get(path)
        if cached is None:
            read = read_candles(path, self.timestamp_unit)
            frame = read.frame
            cached = (frame, bool(frame["ts"].is_monotonic_increasing and frame["ts"].is_unique))
            with self._lock:
                self._frames[path] = cached
                self._rejected[path] = read.rejected
        return cached

    def rejected_lines(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:
        """The series' file lines rejected alone (``trading_core.market.candle_file``) that
        belong to ``[start, end)`` by their ``located`` open time (closed at ``now``), with
        ``exchange``, ``symbol``, ``timeframe`` and the ``file`` name."""
        self._parsed(exchange, symbol, timeframe)
        path = self._files[ReplaySeries(exchange, symbol, timeframe)]
        with self._lock:
            rejected = self._rejected[path]
        if rejected.empty:
            return rejected.assign(exchange=exchange, symbol=symbol, timeframe=timeframe, file="")
        hi = naive_utc(end)
        if now is not None:
            hi = min(hi, naive_utc(now) - timeframe_delta(timeframe) + timedelta(microseconds=1))
        located = rejected["located"]
        window = rejected[(located >= naive_utc(start)) & (located < hi)]
        return window.assign(
            exchange=exchange, symbol=symbol, timeframe=timeframe, file=path.name
        ).reset_index(drop=True)

    def fetch_ohlcv(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:
        """Candles with open time in ``[start, end)``, closed at ``now`` (``None``: all), in
        file order (see the module docstring), gaps kept."""
        frame, ordered = self._parsed(exchange, symbol, timeframe)
        lo = np.datetime64(naive_utc(start), "us")
        hi = np.datetime64(naive_utc(end), "us")
        if now is not None:
            closed_until = np.datetime64(naive_utc(now) - timeframe_delta(timeframe), "us")
            hi = min(hi, closed_until + np.timedelta64(1, "us"))
        ts = frame["ts"].to_numpy()
        if ordered:  # the common case: a sorted file, sliced by binary search
            window = frame.iloc[np.searchsorted(ts, lo) : np.searchsorted(ts, hi)]
        else:
            window = frame[(ts >= lo) & (ts < hi)]
        if window.empty:
            return empty_ohlcv()
        out = window.reset_index(drop=True)
        out.insert(0, "timeframe", timeframe)
        out.insert(0, "symbol", symbol)
        out.insert(0, "exchange", exchange)
        return out[OHLCV_COLUMNS]

    def fetch_order_book(
        self, exchange: str, symbol: str, depth: int, at: datetime | None = None
    ) -> OrderBook:
        """A recorded snapshot taken within ``max_snapshot_age`` before ``at``, else a
        synthetic book (``source='replay:synthetic'``) around the last closed candle's close.
        ``at=None`` means the end of the replayed data (the newest snapshot or candle)."""
        snapshot = self._matching_snapshot(exchange, symbol, at)
        if snapshot is not None:
            # The recorded time, not ``at``: a row says when it happened.
            return OrderBook(
                exchange=snapshot.exchange,
                symbol=snapshot.symbol,
                ts=snapshot.ts,
                bids=snapshot.bids[:depth],
                asks=snapshot.asks[:depth],
                source=snapshot.source,
            )
        return self._synthetic_book(exchange, symbol, depth, at)

    def fetch_trades(
        self, exchange: str, symbol: str, start: datetime, end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Recorded trades ``{exchange}_{BASEQUOTE}_trades_{date}.csv`` (order-book, then
        market directory) in ``[start, end)`` before ``now``, file order
        (``trading_core.market.trades_file``)."""
        from trading_core.market.trades_file import replay_trades

        dirs = [d for d in (self.order_book_dir, self.market_dir) if d is not None]
        return replay_trades(dirs, exchange, symbol, start, end, now)

    def fetch_funding_rates(
        self, exchange: str, symbol: str, start: datetime, end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Recorded funding of ``symbol``'s perpetual (``trading_core.market.funding``)."""
        from trading_core.market.funding import replay_perp

        return replay_perp(self.market_dir, exchange, symbol, "funding", start, end, now)

    def fetch_open_interest(
        self, exchange: str, symbol: str, start: datetime, end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Recorded open interest of ``symbol``'s perpetual (``funding``), or none."""
        from trading_core.market.funding import replay_perp

        return replay_perp(self.market_dir, exchange, symbol, "open_interest", start, end, now)

    def _snapshot(self, path: Path, exchange: str, symbol: str) -> OrderBook:
        with self._lock:
            book = self._books.get(path)
        if book is None:
            book, rejected = read_snapshot(path, exchange, symbol)
            with self._lock:
                self._books[path] = book
                self._book_rejects[path] = rejected
        return book

    def rejected_levels(self, exchange: str, symbol: str, snapshot_ts: datetime) -> list[dict]:
        """The malformed level entries of the recorded snapshot taken at ``snapshot_ts``
        (``side``, ``level`` = position in the file, ``reason``); none for synthetic books."""
        out: list[dict] = []
        for path in self._snapshots.get((exchange, symbol), []):
            if self._snapshot(path, exchange, symbol).ts == naive_utc(snapshot_ts):
                with self._lock:
                    out += self._book_rejects.get(path, [])
        return out

    def _matching_snapshot(
        self, exchange: str, symbol: str, at: datetime | None
    ) -> OrderBook | None:
        books = [
            self._snapshot(path, exchange, symbol)
            for path in self._snapshots.get((exchange, symbol), [])
        ]
        if at is None:
            return max(books, key=lambda b: b.ts, default=None)
        moment = naive_utc(at)
        # Half-open: on a snapshot grid as fine as the age, one grid instant maps to a snapshot.
        fresh = [b for b in books if b.ts <= moment < b.ts + self.max_snapshot_age]
        return max(fresh, key=lambda b: b.ts, default=None)

    def _synthetic_book(
        self, exchange: str, symbol: str, depth: int, at: datetime | None
    ) -> OrderBook:
        timeframes = [s.timeframe for s in self._files if s[:2] == (exchange, symbol)]
        if not timeframes:
            raise MarketDataError(
                f"replay has neither a snapshot nor candles for a book of exchange={exchange!r} "
                f"symbol={symbol!r}"
            )
        timeframe = min(timeframes, key=TIMEFRAME_SECONDS.__getitem__)
        frame = self.candles(exchange, symbol, timeframe)
        step = timeframe_delta(timeframe)
        ts = frame["ts"]
        moment = naive_utc(at) if at is not None else (ts.max() + step).to_pydatetime()
        closed = frame[ts + step <= pd.Timestamp(moment)].sort_values("ts").tail(60)
        stale = closed.empty or moment - (closed["ts"].iloc[-1] + step) > timedelta(days=1)
        if stale:
            raise MarketDataError(
                f"replay cannot build a book for exchange={exchange!r} symbol={symbol!r} at "
                f"{moment}: no {timeframe} candle closed within the day before it"
            )
        mid = float(closed["close"].iloc[-1])
        minutes = TIMEFRAME_SECONDS[timeframe] / 60
        log_returns = np.diff(np.log(closed["close"].to_numpy()))
        sigma_1m = float(np.std(log_returns)) / math.sqrt(minutes) if len(log_returns) > 1 else 1e-3
        quote_per_minute = float((closed["volume"] * closed["close"]).mean()) / minutes
        return synthesize_book(
            exchange=exchange,
            symbol=symbol,
            ts=moment,
            mid=mid,
            sigma_1m=sigma_1m,
            tick=tick_for_price(mid),
            depth=depth,
            seed=stable_hash("replay-book", self.seed, exchange, symbol, moment.isoformat()),
            # Resting value at the best level ~ 1/20 of a minute's traded value (as the sim),
            # at least a thousandth of a unit when the file has no volume.
            quote_size=max(quote_per_minute / 20, mid * 1e-3),
            source=SYNTHETIC_SOURCE,
        )
