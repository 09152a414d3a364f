"""The market-source interface shared by ingest assets, the paper broker and research.

Conventions (every backend follows them):
- timestamps are naive UTC ``datetime64`` (the warehouse stores naive UTC);
- ``ts`` of a candle is its OPEN time; a candle is *closed* once ``ts + timeframe <= now``,
  and only closed candles are ever returned;
- symbols are unified ccxt symbols (``BTC/USDT``); exchange ids are lower-case (``binance``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

import pandas as pd

OHLCV_COLUMNS: list[str] = [
    "exchange",
    "symbol",
    "timeframe",
    "ts",
    "open",
    "high",
    "low",
    "close",
    "volume",
]

# One row per price level of one snapshot.
ORDER_BOOK_COLUMNS: list[str] = [
    "exchange",
    "symbol",
    "snapshot_ts",
    "side",  # 'bid' | 'ask'
    "level",  # 0 = best
    "price",
    "amount",
]

TRADE_COLUMNS: list[str] = [
    "exchange",
    "symbol",
    "ts",
    "trade_id",
    "side",
    "price",
    "amount",
]


@dataclass(frozen=True)
class OrderBook:
    exchange: str
    symbol: str
    ts: datetime
    bids: list[tuple[float, float]] = field(default_factory=list)  # best first
    asks: list[tuple[float, float]] = field(default_factory=list)  # best first
    # Where it came from: sim | replay | replay:synthetic (built around a candle) | ccxt
    source: str = ""

    @property
    def mid(self) -> float:
        return (self.bids[0][0] + self.asks[0][0]) / 2

    def to_frame(self) -> pd.DataFrame:
        rows = [
            (self.exchange, self.symbol, self.ts, side, level, price, amount)
            for side, levels in (("bid", self.bids), ("ask", self.asks))
            for level, (price, amount) in enumerate(levels)
        ]
        return pd.DataFrame(rows, columns=ORDER_BOOK_COLUMNS)


class MarketDataError(RuntimeError):
    """A fetch failed for good; the message names exchange, symbol and window."""


@runtime_checkable
class MarketSource(Protocol):
    """What every market backend offers."""

    name: str

    def fetch_ohlcv(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:
        """Closed candles with open time in ``[start, end)``, columns ``OHLCV_COLUMNS``; sorted,
        except replay, which keeps file order so that quality checks can see a shuffled file."""
        ...

    def fetch_order_book(
        self, exchange: str, symbol: str, depth: int, at: datetime | None = None
    ) -> OrderBook:
        """Top-``depth`` book at ``at`` (offline backends) or now (live backends)."""
        ...


def empty_ohlcv() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in OHLCV_COLUMNS})
    for col in ("exchange", "symbol", "timeframe"):
        frame[col] = frame[col].astype("object")
    frame["ts"] = pd.Series(dtype="datetime64[us]")
    return frame
