"""The embedded market: a deterministic, seeded synthetic exchange with exchange id ``sim``.

Why it is built this way:

- **Window independence.** A candle depends only on (seed, exchange, symbol, its time). A
  *daily anchor chain* (trend regime, volatility regime, daily volatility, jumps and the day's
  open price) is iterated from ``SIM_EPOCH`` in fixed blocks of days, each block drawn from
  its own seeded generator, and cached. The 1m path of one day comes from a generator seeded
  by (seed, exchange, symbol, day) and is bridged to the next day's anchored open, so days
  join continuously and any day can be produced on its own in a few milliseconds.
  Re-materializing a partition, or fetching a day in one call or in pieces, gives identical
  rows.
- **Higher timeframes are exact aggregates of the 1m path** (every supported timeframe divides
  a day), so a 1h candle is exactly the aggregation of its 60 1m candles.
- **Realistic enough for strategies**: regimes that trend up, trend down or range, calm and
  stormy volatility regimes, day-to-day stochastic volatility, intraday volatility clustering
  and seasonality, Student-t minute returns, occasional jumps, volume that rises with |return|
  and volatility, and slow mean reversion of the log price towards a per-symbol level
  (BTC ~80k, ETH ~3k, SOL ~150 in USD-like quotes; any other symbol gets hash-derived levels).
- **Closed candles only**: a candle is returned once ``ts + timeframe <= now``; ``now``
  defaults to the wall clock, so while the system runs a new 1m candle appears every minute.

Prices are rounded to the symbol's tick (monotone rounding keeps every OHLC invariant and the
aggregation exact); the order-book model (:func:`synthesize_book`) is shared with the replay
backend, which uses it when no recorded snapshot matches.

The rooms: the symbols' levels and the seeding hash in ``sim_profile``, the price process in
``sim_path``, the order-book model in ``sim_book``; this module is the market that serves
them (and re-exports what other code imports from here).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from trading_core.market.base import OHLCV_COLUMNS, TRADE_COLUMNS, OrderBook, empty_ohlcv
from trading_core.market.sim_book import order_book_times, synthesize_book
from trading_core.market.sim_path import (
    BLOCK_DAYS,
    MINUTES_PER_DAY,
    TREND_REGIMES,
    VOL_REGIMES,
    AnchorChain,
    DayAnchor,
    DayPath,
    aggregate,
    day_path,
    extend_chain,
    minute_trades,
)
from trading_core.market.sim_profile import (
    SymbolProfile,
    stable_hash,
    symbol_profile,
    tick_for_price,
)
from trading_core.timeframes import naive_utc, timeframe_seconds, utc_now

__all__ = [
    "MINUTES_PER_DAY",
    "SIM_EPOCH",
    "SIM_EXCHANGE",
    "TREND_REGIMES",
    "VOL_REGIMES",
    "SimMarket",
    "SymbolProfile",
    "order_book_times",
    "stable_hash",
    "symbol_profile",
    "synthesize_book",
    "tick_for_price",
]

SIM_EXCHANGE = "sim"
# The first day the simulated market exists; earlier windows are empty.
SIM_EPOCH = datetime(2015, 1, 1)

_EPOCH_US = np.datetime64(SIM_EPOCH, "us")
_DAY_CACHE_SIZE = 256


def _minute_index(moment: datetime) -> int:
    """Whole minutes since ``SIM_EPOCH`` (floor)."""
    return math.floor((naive_utc(moment) - SIM_EPOCH).total_seconds() / 60)


def _ceil_minutes(moment: datetime, step: int) -> int:
    """Minutes since the epoch of the first grid point (``step`` minutes) at or after ``moment``."""
    seconds = (naive_utc(moment) - SIM_EPOCH).total_seconds()
    return math.ceil(seconds / (60 * step)) * step


_Caches = tuple[
    threading.Lock,
    dict[tuple[str, str], AnchorChain],
    OrderedDict[tuple[str, str, int], DayPath],
]
_CACHES: dict[int, _Caches] = {}
_CACHES_LOCK = threading.Lock()


def _shared_cache(seed: int) -> _Caches:
    """The anchor chains and day paths of one seed, shared by the process's instances."""
    with _CACHES_LOCK:
        if seed not in _CACHES:
            _CACHES[seed] = (threading.Lock(), {}, OrderedDict())
        return _CACHES[seed]


class SimMarket:
    """A seeded synthetic market (implements ``MarketSource``).

    It serves the exchange ids in ``exchanges`` (default just ``sim``); each one is an
    independent market (its id is part of every seed), so the same symbol on two simulated
    exchanges never mixes.
    """

    name = "sim"

    def __init__(self, seed: int = 7, exchanges: Sequence[str] = (SIM_EXCHANGE,)) -> None:
        if not exchanges:
            raise ValueError("SimMarket needs at least one exchange id")
        self.seed = seed
        self.exchanges = tuple(exchanges)
        # every instance of a seed shares its chains and day paths (pure functions of the
        # seed): a run's candle and order-book steps build the day of a symbol once
        self._lock, self._chains, self._days = _shared_cache(seed)

    # -- the anchor chain and day paths -------------------------------------------------

    def _check_exchange(self, exchange: str) -> None:
        if exchange not in self.exchanges:
            raise ValueError(
                f"the sim market serves exchanges {list(self.exchanges)}, got {exchange!r}"
            )

    @staticmethod
    def _series_key(exchange: str, symbol: str) -> int:
        return stable_hash("series", exchange, symbol)

    def _anchor(self, exchange: str, symbol: str, day: int) -> DayAnchor:
        profile = symbol_profile(symbol)
        with self._lock:
            chain = self._chains.setdefault((exchange, symbol), AnchorChain())
            while chain.days <= day:
                extend_chain(chain, profile, self.seed, self._series_key(exchange, symbol))
            block, i = divmod(day, BLOCK_DAYS)
            return DayAnchor(
                trend=int(chain.trend[block][i]),
                vol_regime=int(chain.vol_regime[block][i]),
                sigma=float(chain.sigma[block][i]),
                jumps=chain.jumps[block][i],
                log_open=chain.log_open[day],
                log_next_open=chain.log_open[day + 1],
            )

    def _day(self, exchange: str, symbol: str, day: int) -> DayPath:
        key = (exchange, symbol, day)
        with self._lock:
            cached = self._days.get(key)
            if cached is not None:
                self._days.move_to_end(key)
                return cached
        anchor = self._anchor(exchange, symbol, day)
        seq = np.random.SeedSequence([self.seed, self._series_key(exchange, symbol), 3, day])
        path = day_path(anchor, symbol_profile(symbol), np.random.Generator(np.random.PCG64(seq)))
        with self._lock:
            self._days[key] = path
            while len(self._days) > _DAY_CACHE_SIZE:
                self._days.popitem(last=False)
        return path

    # -- MarketSource ---------------------------------------------------------------------

    def fetch_ohlcv(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:
        """Closed candles with open time in ``[start, end)``, sorted by ``ts``."""
        self._check_exchange(exchange)
        step = timeframe_seconds(timeframe) // 60
        limit = naive_utc(now) if now is not None else utc_now()
        first = max(_ceil_minutes(start, step), 0)
        # Exclusive bound: a candle opening at minute m is closed once m + step <= now.
        stop = min(_ceil_minutes(end, step), _minute_index(limit) - step + 1)
        if stop <= first:
            return empty_ohlcv()
        parts: list[tuple[np.ndarray, ...]] = []
        for day in range(first // MINUTES_PER_DAY, (stop - 1) // MINUTES_PER_DAY + 1):
            columns = aggregate(self._day(exchange, symbol, day), step)
            opens = day * MINUTES_PER_DAY + np.arange(0, MINUTES_PER_DAY, step)
            keep = (opens >= first) & (opens < stop)
            parts.append((opens[keep], *(c[keep] for c in columns)))
        stacked = (np.concatenate(c) for c in zip(*parts, strict=True))
        minutes, open_, high, low, close, volume = stacked
        n = len(minutes)
        frame = pd.DataFrame(
            {
                "exchange": [exchange] * n,
                "symbol": [symbol] * n,
                "timeframe": [timeframe] * n,
                "ts": _EPOCH_US + minutes.astype("timedelta64[m]"),
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "volume": volume,
            },
            columns=OHLCV_COLUMNS,
        )
        return frame

    def fetch_order_book(
        self, exchange: str, symbol: str, depth: int, at: datetime | None = None
    ) -> OrderBook:
        """The book at ``at`` (wall clock by default), centred on the last closed 1m close;
        its spread widens with the simulated volatility of that minute."""
        self._check_exchange(exchange)
        moment = naive_utc(at) if at is not None else utc_now()
        minute = _minute_index(moment) - 1  # the last closed 1m candle
        if minute < 0:
            raise ValueError(f"the sim market starts at {SIM_EPOCH}; no book at {moment}")
        day, i = divmod(minute, MINUTES_PER_DAY)
        path = self._day(exchange, symbol, day)
        profile = symbol_profile(symbol)
        return synthesize_book(
            exchange=exchange,
            symbol=symbol,
            ts=moment,
            mid=float(path.close[i]),
            sigma_1m=float(path.sigma[i]),
            tick=profile.tick,
            depth=depth,
            seed=stable_hash("book", self.seed, exchange, symbol, minute),
            quote_size=profile.quote_volume_per_minute / 20,
            source=self.name,
        )

    def fetch_trades(
        self,
        exchange: str,
        symbol: str,
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:
        """A deterministic public tape consistent with the 1m candles of ``[start, end)``:
        each minute's trades open at its open, touch its high and low, close at its close,
        and their amounts sum to its volume. Only minutes already closed at ``now``."""
        candles = self.fetch_ohlcv(exchange, symbol, "1m", start, end, now)
        if candles.empty:
            return pd.DataFrame({c: pd.Series(dtype="float64") for c in TRADE_COLUMNS})
        days = ((candles["ts"] - pd.Timestamp(SIM_EPOCH)) // pd.Timedelta(days=1)).to_numpy()
        frames = [
            minute_trades(
                candles[days == day],
                np.random.Generator(
                    np.random.PCG64(
                        np.random.SeedSequence(
                            [self.seed, self._series_key(exchange, symbol), 4, day]
                        )
                    )
                ),
                symbol_profile(symbol).tick,
            )
            for day in np.unique(days)
        ]
        return pd.concat(frames, ignore_index=True)

    def fetch_funding_rates(
        self, exchange: str, symbol: str, start: datetime, end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Seeded 8-hourly funding of ``symbol``'s perpetual (``trading_core.market.funding``)."""
        from trading_core.market.funding import sim_funding

        self._check_exchange(exchange)
        return sim_funding(self, exchange, symbol, start, end, now or utc_now())

    def fetch_open_interest(
        self, exchange: str, symbol: str, start: datetime, end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Seeded hourly open interest of ``symbol``'s perpetual (``funding``)."""
        from trading_core.market.funding import sim_open_interest

        self._check_exchange(exchange)
        return sim_open_interest(self, exchange, symbol, start, end, now or utc_now())

    # -- research helpers ----------------------------------------------------------------

    def regimes(
        self, symbol: str, start: date, end: date, exchange: str = SIM_EXCHANGE
    ) -> pd.DataFrame:
        """Ground-truth daily regimes of ``[start, end)``: ``day``, ``trend``
        (range/up/down), ``vol_regime`` (calm/stormy), ``daily_vol`` and the day's ``open``."""
        self._check_exchange(exchange)
        first = max((start - SIM_EPOCH.date()).days, 0)
        days = range(first, max((end - SIM_EPOCH.date()).days, first))
        anchors = [self._anchor(exchange, symbol, day) for day in days]
        return pd.DataFrame(
            {
                "day": [SIM_EPOCH.date() + timedelta(days=d) for d in days],
                "trend": [TREND_REGIMES[a.trend] for a in anchors],
                "vol_regime": [VOL_REGIMES[a.vol_regime] for a in anchors],
                "daily_vol": [a.sigma for a in anchors],
                "open": [math.exp(a.log_open) for a in anchors],
            }
        )
