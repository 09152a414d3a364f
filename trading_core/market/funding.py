"""Funding rates and open interest of perpetual markets: the frames every backend returns,
the perpetual a configured symbol maps to, and the offline backends (sim, replay).

A configured symbol (``BTC/USDT``) maps to its linear perpetual (``BTC/USDT:USDT``); a symbol
that already names a contract stays as it is. Rows carry both: ``symbol`` (what partitions
and signals use) and ``contract``.

- **sim**: seeded and window-independent. Funding every 8 hours (00, 08, 16 UTC) follows the
  sim's own price: a base rate of 0.01 % plus a premium from the last 8 hours' log return,
  plus seeded noise, clipped to ±0.75 % (Binance's usual cap). Open interest every hour, in
  base units around half a day of the symbol's volume, valued at the hour's close.
- **replay**: ``{exchange}_{BASEQUOTEPERP}_funding_{interval}.csv`` (``timestamp,
  funding_rate``) and ``..._open_interest_{interval}.csv`` (``timestamp,open_interest,
  open_interest_value``) in the market directory; rows come back in file order, unparseable
  cells as NaN/NaT for the checks to quarantine.

A row is returned once it is known: its ``ts`` is before ``now``.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trading_core.market.base import MarketDataError
from trading_core.quality.frames import naive_utc_times
from trading_core.quality.funding import FUNDING_COLUMNS, OPEN_INTEREST_COLUMNS
from trading_core.timeframes import naive_utc

if TYPE_CHECKING:
    from trading_core.market.sim import SimMarket

FUNDING_EVERY = timedelta(hours=8)
OPEN_INTEREST_EVERY = timedelta(hours=1)
BASE_FUNDING_RATE = 0.0001
FUNDING_CAP = 0.0075
_PREMIUM_PER_LOG_RETURN = 0.05
_PERP_FILE = re.compile(
    r"^(?P<exchange>[a-z0-9]+)_(?P<pair>[A-Z0-9]+)_(?P<kind>funding|open_interest)_"
    r"(?P<interval>[0-9]+[mhd])\.csv$"
)


def perpetual_symbol(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTC/USDT:USDT`` (the linear perpetual settled in the quote)."""
    if ":" in symbol:
        return symbol
    base, slash, quote = symbol.partition("/")
    if not slash or not base or not quote:
        raise MarketDataError(f"symbol {symbol!r} is not a unified BASE/QUOTE symbol")
    return f"{symbol}:{quote}"


def empty_funding() -> pd.DataFrame:
    return _typed(pd.DataFrame(columns=FUNDING_COLUMNS), ["funding_rate"])


def empty_open_interest() -> pd.DataFrame:
    return _typed(
        pd.DataFrame(columns=OPEN_INTEREST_COLUMNS), ["open_interest", "open_interest_value"]
    )


def _typed(frame: pd.DataFrame, numbers: list[str]) -> pd.DataFrame:
    return frame.astype({"ts": "datetime64[us]", **dict.fromkeys(numbers, "float64")})


def grid(start: datetime, end: datetime, every: timedelta, now: datetime | None) -> list[datetime]:
    """The multiples of ``every`` (from midnight) in ``[start, min(end, now))``."""
    stop = naive_utc(end) if now is None else min(naive_utc(end), naive_utc(now))
    first = naive_utc(start)
    midnight = first.replace(hour=0, minute=0, second=0, microsecond=0)
    moment = midnight + every * math.ceil((first - midnight) / every)
    moments = []
    while moment < stop:
        moments.append(moment)
        moment += every
    return moments


def _closes(market: SimMarket, exchange: str, symbol: str, moments: list[datetime]) -> np.ndarray:
    """The sim's price at each moment: the close of the 1h candle ending there (NaN before
    the sim market exists)."""
    if not moments:
        return np.array([], dtype="float64")
    candles = market.fetch_ohlcv(
        exchange, symbol, "1h", moments[0] - timedelta(hours=1), moments[-1], now=moments[-1]
    )
    by_end = pd.Series(candles["close"].to_numpy(), index=candles["ts"] + pd.Timedelta(hours=1))
    return by_end.reindex(pd.DatetimeIndex(moments)).to_numpy(dtype="float64")


def _noise(seed: int, key: int, moments: list[datetime], every: timedelta) -> np.ndarray:
    """One seeded normal draw per grid slot, independent of the window asked for."""
    slots = [int((m - datetime(1970, 1, 1)) / every) for m in moments]
    return np.array([np.random.default_rng([seed, key, slot]).standard_normal() for slot in slots])


def sim_funding(
    market: SimMarket, exchange: str, symbol: str, start: datetime, end: datetime,
    now: datetime | None,
) -> pd.DataFrame:  # fmt: skip
    from trading_core.market.sim import stable_hash

    moments = grid(start, end, FUNDING_EVERY, now)
    if not moments:
        return empty_funding()
    price = _closes(market, exchange, symbol, moments)
    before = _closes(market, exchange, symbol, [m - FUNDING_EVERY for m in moments])
    premium = np.nan_to_num(np.log(price / before)) * _PREMIUM_PER_LOG_RETURN
    noise = _noise(market.seed, stable_hash("funding", exchange, symbol) % 2**32, moments,
                   FUNDING_EVERY) * 0.00005  # fmt: skip
    rate = np.clip(BASE_FUNDING_RATE + premium + noise, -FUNDING_CAP, FUNDING_CAP).round(8)
    return _frame(exchange, symbol, moments, {"funding_rate": rate}, FUNDING_COLUMNS)


def sim_open_interest(
    market: SimMarket, exchange: str, symbol: str, start: datetime, end: datetime,
    now: datetime | None,
) -> pd.DataFrame:  # fmt: skip
    from trading_core.market.sim import stable_hash, symbol_profile

    moments = grid(start, end, OPEN_INTEREST_EVERY, now)
    if not moments:
        return empty_open_interest()
    profile = symbol_profile(symbol)
    level = profile.quote_volume_per_minute * 720 / profile.center_price
    key = stable_hash("open_interest", exchange, symbol)
    days = np.array([(m - datetime(1970, 1, 1)) / timedelta(days=1) for m in moments])
    wave = 0.3 * np.sin(2 * np.pi * days / 30 + (key % 628) / 100)
    noise = _noise(market.seed, key % 2**32, moments, OPEN_INTEREST_EVERY) * 0.02
    amount = (level * np.exp(wave + noise)).round(3)
    close = _closes(market, exchange, symbol, moments)
    return _frame(
        exchange, symbol, moments,
        {"open_interest": amount, "open_interest_value": (amount * close).round(2)},
        OPEN_INTEREST_COLUMNS,
    )  # fmt: skip


def _frame(
    exchange: str, symbol: str, moments: list[datetime], values: dict[str, np.ndarray],
    columns: list[str],
) -> pd.DataFrame:  # fmt: skip
    frame = pd.DataFrame(
        {"exchange": exchange, "symbol": symbol, "contract": perpetual_symbol(symbol),
         "ts": np.array(moments, dtype="datetime64[us]"), **values},
        columns=columns,
    )  # fmt: skip
    return frame


def replay_perp_file(directory: Path, exchange: str, symbol: str, kind: str) -> Path | None:
    """The replay file of ``kind`` (funding | open_interest) for ``symbol``'s perpetual."""
    from trading_core.market.replay import unified_to_file_symbol

    pair = unified_to_file_symbol(perpetual_symbol(symbol))
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        match = _PERP_FILE.match(path.name)
        if match and (match["exchange"], match["pair"], match["kind"]) == (exchange, pair, kind):
            return path
    return None


def replay_perp(
    directory: Path, exchange: str, symbol: str, kind: str, start: datetime, end: datetime,
    now: datetime | None,
) -> pd.DataFrame:  # fmt: skip
    """The rows of the replay file of ``kind`` with ``ts`` in ``[start, min(end, now))``
    (a line whose time cannot be read belongs to the window of the line before it)."""
    numbers = ["funding_rate"] if kind == "funding" else ["open_interest", "open_interest_value"]
    columns = FUNDING_COLUMNS if kind == "funding" else OPEN_INTEREST_COLUMNS
    path = replay_perp_file(directory, exchange, symbol, kind)
    if path is None:
        return empty_funding() if kind == "funding" else empty_open_interest()
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    absent = [c for c in ("timestamp", *numbers) if c not in raw.columns]
    if absent:
        raise MarketDataError(f"replay {kind} file {path}: missing columns {absent}")
    ts = naive_utc_times(raw["timestamp"].replace("", None)).astype("datetime64[us]")
    values = {c: pd.to_numeric(raw[c], errors="coerce").astype("float64") for c in numbers}
    frame = pd.DataFrame(
        {"exchange": exchange, "symbol": symbol, "contract": perpetual_symbol(symbol),
         "ts": ts, **values}, columns=columns,
    )  # fmt: skip
    placed = ts.ffill().bfill()
    stop = naive_utc(end) if now is None else min(naive_utc(end), naive_utc(now))
    inside = (placed >= pd.Timestamp(naive_utc(start))) & (placed < pd.Timestamp(stop))
    return frame[inside.to_numpy()].reset_index(drop=True)
