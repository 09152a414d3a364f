"""History as a market source on a clock the replay moves: closed bars only, no wall time.

``BarMarket`` serves one series of bars (a CSV read by ``trading replay``) through the
``MarketSource`` interface the executor's engine and paper broker read. Its ``name`` is
``"replay"``, so the engine reads the market at each intent's decision time and never at the
wall clock. ``now`` is the replay's market clock: the close of the bar being played.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from executor.brokers.replay_fills import BarSeries
from trading_core.market.base import OHLCV_COLUMNS, MarketDataError, OrderBook, empty_ohlcv
from trading_core.timeframes import timeframe_delta


class BarMarket:
    name = "replay"

    def __init__(self, bars: pd.DataFrame, *, exchange: str, symbol: str, timeframe: str) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.timeframe = timeframe
        self.step = timeframe_delta(timeframe)
        frame = bars.reset_index(drop=True)
        self._ts = frame["ts"].to_numpy(dtype="datetime64[us]")
        self.series = BarSeries(
            ts=[pd.Timestamp(t).to_pydatetime() for t in self._ts],
            open=frame["open"].to_numpy(dtype=float).tolist(),
            high=frame["high"].to_numpy(dtype=float).tolist(),
            low=frame["low"].to_numpy(dtype=float).tolist(),
            close=frame["close"].to_numpy(dtype=float).tolist(),
        )
        self._frame = frame
        self.now: datetime = self.series.ts[0]

    def _check(self, exchange: str, symbol: str, timeframe: str) -> None:
        if (exchange, symbol, timeframe) != (self.exchange, self.symbol, self.timeframe):
            raise MarketDataError(
                f"the replay serves {self.exchange} {self.symbol} {self.timeframe} only, "
                f"not {exchange} {symbol} {timeframe}"
            )

    def fetch_ohlcv(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:
        """Bars opening in ``[start, end)`` that are closed at ``now`` (default: the clock)."""
        self._check(exchange, symbol, timeframe)
        closed_by = min(end, (now or self.now) - self.step + np.timedelta64(1, "us"))
        lo = int(np.searchsorted(self._ts, np.datetime64(start, "us"), side="left"))
        hi = int(np.searchsorted(self._ts, np.datetime64(closed_by, "us"), side="left"))
        if hi <= lo:
            return empty_ohlcv()
        rows = self._frame.iloc[lo:hi]
        out = pd.DataFrame(
            {
                "exchange": exchange,
                "symbol": symbol,
                "timeframe": timeframe,
                "ts": self._ts[lo:hi],
                "open": rows["open"].to_numpy(dtype=float),
                "high": rows["high"].to_numpy(dtype=float),
                "low": rows["low"].to_numpy(dtype=float),
                "close": rows["close"].to_numpy(dtype=float),
                "volume": rows["volume"].to_numpy(dtype=float)
                if "volume" in rows
                else np.zeros(hi - lo),
            },
            columns=OHLCV_COLUMNS,
        )
        return out

    def fetch_order_book(
        self, exchange: str, symbol: str, depth: int, at: datetime | None = None
    ) -> OrderBook:
        """A one-level book at the last close before ``at`` (the replay broker fills on bars,
        so this only answers callers that ask for a touch)."""
        self._check(exchange, symbol, self.timeframe)
        moment = at or self.now
        i = int(np.searchsorted(self._ts, np.datetime64(moment - self.step, "us"), side="right"))
        if i == 0:
            raise MarketDataError(f"no closed {self.timeframe} bar of {symbol} before {moment}")
        price = self.series.close[i - 1]
        size = float("inf")
        return OrderBook(exchange, symbol, moment, [(price, size)], [(price, size)], "replay")
