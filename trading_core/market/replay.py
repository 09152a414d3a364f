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
"""

from __future__ import annotations

import json
import math
import re
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from trading_core.market.base import OHLCV_COLUMNS, MarketDataError, OrderBook, empty_ohlcv
from trading_core.market.candle_file import (
    EPOCH_UNITS,
    CandleFileError,
    CandleRead,
    empty_rejected,
    epoch_to_times,
    epoch_units,
    read_candle_lines,
)
from trading_core.market.sim import stable_hash, synthesize_book, tick_for_price
from trading_core.timeframes import TIMEFRAME_SECONDS, naive_utc, timeframe_delta

# Longest first, so USDT wins over USD and FDUSD over USD.
KNOWN_QUOTES: tuple[str, ...] = tuple(
    sorted(
        (
            "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "USD", "EUR", "GBP",
            "TRY", "BRL", "JPY", "AUD", "BTC", "ETH", "BNB",
        ),
        key=len,
        reverse=True,
    )
)  # fmt: skip
PERP_SUFFIX = "PERP"
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
SYNTHETIC_SOURCE = "replay:synthetic"

_CANDLE_FILE = re.compile(
    r"^(?P<exchange>[a-z0-9]+)_(?P<pair>[A-Z0-9]+)_(?P<timeframe>[0-9]+[mhd])\.(?P<ext>csv|parquet)$"
)
_DEPTH_FILE = re.compile(r"^(?P<exchange>[a-z0-9]+)_(?P<pair>[A-Z0-9]+)_depth_[0-9]+\.json$")
_SNAPSHOT_TIME_KEYS = ("timestamp", "ts", "last_tob_timestamp")


class ReplaySeries(NamedTuple):
    exchange: str
    symbol: str
    timeframe: str


def file_symbol_to_unified(pair: str) -> str:
    """``BTCUSDT`` -> ``BTC/USDT``; ``XRPUSDTPERP`` -> ``XRP/USDT:USDT`` (linear perpetual)."""
    perp = pair.endswith(PERP_SUFFIX) and len(pair) > len(PERP_SUFFIX)
    core = pair[: -len(PERP_SUFFIX)] if perp else pair
    for quote in KNOWN_QUOTES:
        if core.endswith(quote) and len(core) > len(quote):
            base = core[: -len(quote)]
            return f"{base}/{quote}:{quote}" if perp else f"{base}/{quote}"
    raise ValueError(f"cannot split {pair!r} into base and quote; known quotes: {KNOWN_QUOTES}")


def unified_to_file_symbol(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTCUSDT``; ``XRP/USDT:USDT`` -> ``XRPUSDTPERP``."""
    pair, _, settle = symbol.partition(":")
    return pair.replace("/", "") + (PERP_SUFFIX if settle else "")


def scan_candle_files(directory: Path) -> dict[ReplaySeries, Path]:
    """The candle files of ``directory`` by series. Names outside the layout are ignored; of a
    CSV and a Parquet file of the same series, the first in name order (the CSV) wins."""
    files: dict[ReplaySeries, Path] = {}
    for path in sorted(directory.iterdir()):
        match = _CANDLE_FILE.match(path.name)
        if not match or match["timeframe"] not in TIMEFRAME_SECONDS:
            continue
        try:
            symbol = file_symbol_to_unified(match["pair"])
        except ValueError:
            continue
        files.setdefault(ReplaySeries(match["exchange"], symbol, match["timeframe"]), path)
    return files


def _timestamps_to_naive_utc(column: pa.ChunkedArray, declared: str | None) -> np.ndarray | None:
    """Naive UTC ``datetime64[us]`` from a timestamp (aware or naive), epoch or ISO column;
    None when the column needs the line-by-line read (epoch numbers of more than one unit,
    or not the declared one: ``trading_core.market.candle_file``)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        if declared not in (None, "iso"):
            return None
        # Aware timestamps are stored as UTC instants; dropping the zone keeps UTC wall time.
        return column.cast(pa.timestamp("us")).to_numpy().astype("datetime64[us]")
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        values = column.to_numpy(zero_copy_only=False).astype("float64")
        units = epoch_units(values)
        found = set(units.tolist())
        if len(found) != 1 or "" in found or (declared is not None and found != {declared}):
            return None
        return epoch_to_times(values, units)
    if declared not in (None, "iso"):
        return None
    try:
        parsed = pd.to_datetime(column.to_pandas(), utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return None
    return parsed.dt.tz_convert(None).to_numpy().astype("datetime64[us]")


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, 2)
        if handle.tell() == 0:
            return True
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"


def _read_fast(path: Path, timestamp_unit: str | None) -> pd.DataFrame | None:
    """The columnar read of a well-formed file; None when a line needs the tolerant read."""
    if path.suffix != ".parquet" and not _ends_with_newline(path):
        return None
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        else:
            types = {name: pa.float64() for name in PRICE_COLUMNS}
            # only an empty cell is missing: nan, NULL, N/A... go line by line (unparseable)
            strict = pa_csv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=False
            )
            table = pa_csv.read_csv(path, convert_options=strict)
    except pa.ArrowInvalid:
        if path.suffix == ".parquet":
            raise
        return None
    missing = [c for c in ("timestamp", *PRICE_COLUMNS) if c not in table.column_names]
    if missing:
        raise MarketDataError(
            f"{path}: missing columns {missing}; "
            f"expected header timestamp,{','.join(PRICE_COLUMNS)}"
        )
    ts = _timestamps_to_naive_utc(table.column("timestamp"), timestamp_unit)
    if ts is None:
        if path.suffix == ".parquet":
            raise MarketDataError(
                f"{path}: timestamps of mixed or undeclared units; declare timestamp_unit"
            )
        return None
    prices = {}
    for name in PRICE_COLUMNS:
        column = table.column(name)
        column = column if column.type == pa.float64() else column.cast(pa.float64())
        # an empty cell (null) goes on, to be quarantined as missing_value; nan / inf cells
        # are rejected line by line with their line number
        if pc.all(pc.is_finite(column)).as_py() is False:
            return None
        prices[name] = column.to_numpy()
    return pd.DataFrame({"ts": ts, **prices}, copy=False)  # one block build, no per-column copy


def read_candle_file(path: Path, timestamp_unit: str | None = None) -> pd.DataFrame:
    """``ts`` plus float ``open..volume`` of the readable lines, in file order."""
    return read_candles(path, timestamp_unit).frame


def read_candles(path: Path, timestamp_unit: str | None = None) -> CandleRead:
    """``ts`` plus float ``open..volume`` in file order, and the lines rejected alone (see
    ``trading_core.market.candle_file``); a ``MarketDataError`` names a file that cannot be
    read at all. ``timestamp_unit``: iso | s | ms | us | ns, or None to detect it."""
    try:
        frame = _read_fast(path, timestamp_unit)
        if frame is not None:
            unit = timestamp_unit or "detected"
            return CandleRead(frame, empty_rejected(), unit)
        read = read_candle_lines(path, timestamp_unit)
    except (pa.ArrowInvalid, OSError, CandleFileError) as exc:
        raise MarketDataError(f"cannot read candle file {path}: {exc}") from exc
    return CandleRead(read.frame.drop(columns="line"), read.rejected, read.ts_unit)


def _levels(entries: object, side: str, path: Path) -> tuple[list[tuple[float, float]], list[dict]]:
    """The readable ``[price, amount]`` levels of one side, and each entry that is not one
    (kept alone with its position and reason: ``malformed_level``)."""
    if not isinstance(entries, list):
        raise MarketDataError(f"{path}: '{side}s' must be a list of [price, amount]")
    levels: list[tuple[float, float]] = []
    rejected: list[dict] = []
    for position, entry in enumerate(entries):
        try:
            if not isinstance(entry, list | tuple) or len(entry) != 2:
                raise ValueError("not a [price, amount] pair")
            price, amount = float(entry[0]), float(entry[1])
            if not (math.isfinite(price) and math.isfinite(amount)):
                raise ValueError("not a finite number")
        except (TypeError, ValueError) as err:
            rejected.append(
                {
                    "side": side,
                    "level": position,
                    "reason": f"malformed_level: {side}s[{position}] of {path.name}: {err}; "
                    f"entry: {json.dumps(entry)[:100]}",
                }
            )
            continue
        levels.append((price, amount))
    return levels, rejected


def _read_snapshot(path: Path, exchange: str, symbol: str) -> tuple[OrderBook, list[dict]]:
    """The snapshot and its malformed level entries; a file that is not a JSON object with
    a time is refused (it cannot be read at all)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MarketDataError(f"cannot read order book snapshot {path}: {err}") from err
    if not isinstance(data, dict):
        raise MarketDataError(f"{path}: an order book snapshot must be a JSON object")
    raw_ts = next((data[k] for k in _SNAPSHOT_TIME_KEYS if data.get(k)), None)
    if raw_ts is None:
        raise MarketDataError(f"{path}: no snapshot time (one of {_SNAPSHOT_TIME_KEYS})")
    try:
        ts = pd.Timestamp(raw_ts)
    except (ValueError, TypeError) as err:
        raise MarketDataError(f"{path}: snapshot time {raw_ts!r} is not a time") from err
    ts = ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts
    bids, bad_bids = _levels(data.get("bids", []), "bid", path)
    asks, bad_asks = _levels(data.get("asks", []), "ask", path)
    book = OrderBook(
        exchange=exchange, symbol=symbol, ts=ts.to_pydatetime(), bids=bids, asks=asks,
        source="replay",
    )  # fmt: skip
    return book, bad_bids + bad_asks


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
            match = _DEPTH_FILE.match(path.name)
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
            book, rejected = _read_snapshot(path, exchange, symbol)
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
