"""Recorded public trades for the replay backend: ``{exchange}_{BASEQUOTE}_trades_{date}.csv``
(the layout of ``../shared/data/orderbooks``) with columns ``timestamp,trade_id,side,price,
amount`` (``cost`` and other extra columns are ignored); ``timestamp`` ISO-8601 UTC.

A file is read as text and parsed per column, so a bad cell never hides its line: an
unparseable time or number becomes NaT/NaN and the quality checks quarantine it
(``trading_core.quality.trades``). A line whose time cannot be read belongs to the window of
the line before it (file order), so it reaches exactly one partition: never dropped.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from trading_core.market.base import TRADE_COLUMNS, MarketDataError
from trading_core.quality.frames import naive_utc_times
from trading_core.timeframes import naive_utc

TRADES_FILE = re.compile(r"^(?P<exchange>[a-z0-9]+)_(?P<pair>[A-Z0-9]+)_trades_[0-9]+\.csv$")
FILE_COLUMNS = ("timestamp", "trade_id", "side", "price", "amount")


def scan_trade_files(directories: list[Path]) -> dict[tuple[str, str], list[Path]]:
    """Trade files by (exchange, file pair), in name order."""
    found: dict[tuple[str, str], list[Path]] = {}
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            match = TRADES_FILE.match(path.name)
            if match:
                found.setdefault((match["exchange"], match["pair"]), []).append(path)
    return found


def read_trade_file(path: Path, exchange: str, symbol: str) -> pd.DataFrame:
    """Every line of ``path`` as a trade row (``TRADE_COLUMNS`` plus ``_window_ts``, the time
    that places the line in a window), in file order."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise MarketDataError(f"replay trades file {path}: {exc}") from exc
    absent = [c for c in FILE_COLUMNS if c not in raw.columns]
    if absent:
        raise MarketDataError(
            f"replay trades file {path}: missing columns {absent}; expected {list(FILE_COLUMNS)}"
        )
    ts = naive_utc_times(raw["timestamp"].replace("", None))
    blank = {"": None}
    frame = pd.DataFrame(
        {
            "exchange": exchange,
            "symbol": symbol,
            "ts": ts.astype("datetime64[us]"),
            "trade_id": raw["trade_id"].replace(blank),
            "side": raw["side"].replace(blank),
            "price": pd.to_numeric(raw["price"], errors="coerce").astype("float64"),
            "amount": pd.to_numeric(raw["amount"], errors="coerce").astype("float64"),
        },
        columns=TRADE_COLUMNS,
    )
    frame["_window_ts"] = frame["ts"].ffill().bfill()
    return frame


def trades_in_window(
    frames: list[pd.DataFrame], start: datetime, end: datetime, now: datetime | None
) -> pd.DataFrame:
    """The rows of ``frames`` placed in ``[start, min(end, now))``, file order kept."""
    stop = naive_utc(end) if now is None else min(naive_utc(end), naive_utc(now))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in TRADE_COLUMNS}).astype(
            {"ts": "datetime64[us]", "exchange": object, "symbol": object, "trade_id": object,
             "side": object}
        )  # fmt: skip
    rows = pd.concat(frames, ignore_index=True)
    placed = rows["_window_ts"].to_numpy()
    inside = (placed >= np.datetime64(naive_utc(start))) & (placed < np.datetime64(stop))
    return rows.loc[inside, TRADE_COLUMNS].reset_index(drop=True)


@lru_cache(maxsize=16)
def _cached(path: str, mtime_ns: int, exchange: str, symbol: str) -> pd.DataFrame:
    return read_trade_file(Path(path), exchange, symbol)


def replay_trades(
    directories: list[Path],
    exchange: str,
    symbol: str,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> pd.DataFrame:
    """The recorded trades of ``symbol`` (unified; its file pair is ``BASEQUOTE``, a
    perpetual's ``BASEQUOTEPERP``) placed in ``[start, min(end, now))``; parsed files are
    cached by path and modification time."""
    from trading_core.market.replay import unified_to_file_symbol  # replay imports this module

    pair = unified_to_file_symbol(symbol)
    paths = scan_trade_files(directories).get((exchange, pair), [])
    frames = [_cached(str(p), p.stat().st_mtime_ns, exchange, symbol) for p in paths]
    return trades_in_window(frames, start, end, now)
