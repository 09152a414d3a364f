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
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from trading_core.market.base import OHLCV_COLUMNS, TRADE_COLUMNS, OrderBook, empty_ohlcv
from trading_core.timeframes import naive_utc, timeframe_seconds, utc_now

SIM_EXCHANGE = "sim"
# The first day the simulated market exists; earlier windows are empty.
SIM_EPOCH = datetime(2015, 1, 1)
MINUTES_PER_DAY = 1440

_EPOCH_US = np.datetime64(SIM_EPOCH, "us")
_BLOCK_DAYS = 256
_DAY_CACHE_SIZE = 256
_MAX_JUMPS_PER_DAY = 3

# Trend regimes: drift per day in units of the symbol's base daily volatility.
TREND_REGIMES: tuple[str, ...] = ("range", "up", "down")
_TREND_DRIFT = np.array([0.0, 0.2, -0.2])
_TREND_STAY = 0.96  # mean regime length ~25 days
# Volatility regimes: multiplier of the base daily volatility.
VOL_REGIMES: tuple[str, ...] = ("calm", "stormy")
_VOL_MULT = np.array([0.75, 1.6])
_VOL_STAY = 0.97
# Day-to-day log-volatility AR(1) (clustering across days).
_DAILY_LOGVOL_PHI = 0.9
_DAILY_LOGVOL_STD = 0.3
# Intraday log-volatility AR(1) per minute (clustering of |1m returns|).
_MINUTE_LOGVOL_PHI = 0.985
_MINUTE_LOGVOL_STD = 0.5
_T_DOF = 5.0  # Student-t minute innovations: fat tails
_JUMPS_PER_DAY = 0.2
_JUMP_SCALE = 0.5  # jump size std in units of the day's volatility
_MEAN_REVERSION = 0.03  # per day, towards the symbol's level (half-life ~23 days)
_USD_QUOTES = frozenset({"USDT", "USDC", "USD", "BUSD", "FDUSD", "TUSD", "DAI"})


@dataclass(frozen=True)
class SymbolProfile:
    """The levels a simulated symbol lives around."""

    center_price: float  # the log price reverts slowly towards this level
    daily_vol: float  # base daily log-return std (before regime and stochastic vol)
    quote_volume_per_minute: float  # typical traded value per minute, in quote currency
    tick: float  # price increment; candles and books are on this grid


_KNOWN_PROFILES: dict[str, SymbolProfile] = {
    "BTC": SymbolProfile(80_000.0, 0.025, 1_500_000.0, 0.01),
    "ETH": SymbolProfile(3_000.0, 0.032, 800_000.0, 0.01),
    "SOL": SymbolProfile(150.0, 0.045, 300_000.0, 0.001),
}


def stable_hash(*parts: object) -> int:
    """A 63-bit hash stable across processes (``hash()`` is salted per process)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") >> 1


def tick_for_price(price: float) -> float:
    """A plausible price increment: about six significant digits."""
    return 10.0 ** (math.floor(math.log10(price)) - 5)


def _decimals(increment: float) -> int:
    """Decimal places that represent multiples of ``increment`` (0.01 -> 2, 0.05 -> 2, 5 -> 0);
    rounding to them rather than multiplying by the increment keeps the floats clean."""
    return max(0, math.ceil(-math.log10(increment) - 1e-9))


def symbol_profile(symbol: str) -> SymbolProfile:
    """Known levels for BTC, ETH, SOL in USD-like quotes; hash-derived ones for anything else."""
    base, _, rest = symbol.partition("/")
    quote = rest.split(":", 1)[0]
    if base in _KNOWN_PROFILES and quote in _USD_QUOTES:
        return _KNOWN_PROFILES[base]
    h = stable_hash("profile", symbol)
    u = [((h >> (16 * i)) & 0xFFFF) / 0xFFFF for i in range(3)]
    center = 10.0 ** (-1.0 + 4.0 * u[0])  # 0.1 .. 1000
    return SymbolProfile(
        center_price=center,
        daily_vol=0.035 + 0.04 * u[1],
        quote_volume_per_minute=10.0 ** (4.5 + u[2]),
        tick=tick_for_price(center) / 10.0,
    )


def _minute_index(moment: datetime) -> int:
    """Whole minutes since ``SIM_EPOCH`` (floor)."""
    return math.floor((naive_utc(moment) - SIM_EPOCH).total_seconds() / 60)


def _ceil_minutes(moment: datetime, step: int) -> int:
    """Minutes since the epoch of the first grid point (``step`` minutes) at or after ``moment``."""
    seconds = (naive_utc(moment) - SIM_EPOCH).total_seconds()
    return math.ceil(seconds / (60 * step)) * step


@dataclass
class _AnchorChain:
    """Per-day state of one symbol, extended block by block from the epoch."""

    trend: list[np.ndarray] = field(default_factory=list)
    vol_regime: list[np.ndarray] = field(default_factory=list)
    sigma: list[np.ndarray] = field(default_factory=list)
    jumps: list[np.ndarray] = field(default_factory=list)  # (days, _MAX_JUMPS_PER_DAY)
    log_open: list[float] = field(default_factory=list)  # one more than days
    state: tuple[int, int, float] = (0, 0, 0.0)  # trend, vol regime, log-vol deviation

    @property
    def days(self) -> int:
        return len(self.trend) * _BLOCK_DAYS


@dataclass(frozen=True)
class _DayAnchor:
    """What the daily chain fixes for one day; the intraday path must honour it."""

    trend: int
    vol_regime: int
    sigma: float  # the day's log-return std
    jumps: np.ndarray  # jump sizes (log), zeros for no jump
    log_open: float
    log_next_open: float


@dataclass(frozen=True)
class _DayPath:
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    sigma: np.ndarray  # per-minute diffusion std (log)


def _extend_chain(chain: _AnchorChain, profile: SymbolProfile, seed: int, symbol_key: int) -> None:
    """Append one block of days; each block has its own generator, so results never depend on
    how far the chain was extended before."""
    block = len(chain.trend)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, symbol_key, 1, block])))
    u_trend = rng.random(_BLOCK_DAYS)
    pick_trend = rng.integers(1, len(TREND_REGIMES), _BLOCK_DAYS)
    u_vol = rng.random(_BLOCK_DAYS)
    z_logvol = rng.standard_normal(_BLOCK_DAYS)
    z_ret = rng.standard_normal(_BLOCK_DAYS)
    n_jumps = np.minimum(rng.poisson(_JUMPS_PER_DAY, _BLOCK_DAYS), _MAX_JUMPS_PER_DAY)
    z_jump = rng.standard_normal((_BLOCK_DAYS, _MAX_JUMPS_PER_DAY))

    trend = np.empty(_BLOCK_DAYS, dtype=np.int8)
    vol_regime = np.empty(_BLOCK_DAYS, dtype=np.int8)
    sigma = np.empty(_BLOCK_DAYS)
    jumps = np.zeros((_BLOCK_DAYS, _MAX_JUMPS_PER_DAY))
    if not chain.log_open:
        chain.log_open.append(math.log(profile.center_price))
    log_center = math.log(profile.center_price)
    log_p = chain.log_open[-1]
    t_state, v_state, h = chain.state
    logvol_shock = _DAILY_LOGVOL_STD * math.sqrt(1 - _DAILY_LOGVOL_PHI**2)
    for i in range(_BLOCK_DAYS):
        if u_trend[i] > _TREND_STAY:
            t_state = (t_state + int(pick_trend[i])) % len(TREND_REGIMES)
        if u_vol[i] > _VOL_STAY:
            v_state = 1 - v_state
        h = _DAILY_LOGVOL_PHI * h + logvol_shock * z_logvol[i]
        s = profile.daily_vol * _VOL_MULT[v_state] * math.exp(h - 0.5 * _DAILY_LOGVOL_STD**2)
        day_jumps = z_jump[i] * (_JUMP_SCALE * s) * (np.arange(_MAX_JUMPS_PER_DAY) < n_jumps[i])
        ret = (
            _TREND_DRIFT[t_state] * profile.daily_vol
            - _MEAN_REVERSION * (log_p - log_center)
            - 0.5 * s * s
            + s * z_ret[i]
            + float(day_jumps.sum())
        )
        trend[i], vol_regime[i], sigma[i], jumps[i] = t_state, v_state, s, day_jumps
        log_p += ret
        chain.log_open.append(log_p)
    chain.trend.append(trend)
    chain.vol_regime.append(vol_regime)
    chain.sigma.append(sigma)
    chain.jumps.append(jumps)
    chain.state = (t_state, v_state, h)


def _intraday_weights(rng: np.random.Generator) -> np.ndarray:
    """Per-minute volatility weights with sum of squares 1: seasonality (busier around the
    US session) times an AR(1) log-volatility that makes |returns| cluster."""
    minutes = np.arange(MINUTES_PER_DAY)
    season = 1.0 + 0.35 * np.cos(2 * np.pi * (minutes / MINUTES_PER_DAY - 14.5 / 24))
    shocks = rng.standard_normal(MINUTES_PER_DAY)
    phi = _MINUTE_LOGVOL_PHI
    shock_std = _MINUTE_LOGVOL_STD * math.sqrt(1 - phi * phi)
    logvol = np.empty(MINUTES_PER_DAY)
    x = _MINUTE_LOGVOL_STD * float(shocks[0])
    for i, z in enumerate(shocks.tolist()):
        if i:
            x = phi * x + shock_std * z
        logvol[i] = x
    weights = season * np.exp(logvol)
    return weights / math.sqrt(float(np.sum(weights * weights)))


def _day_path(anchor: _DayAnchor, profile: SymbolProfile, rng: np.random.Generator) -> _DayPath:
    """The 1m candles of one day, bridged so the last close is the next day's anchored open."""
    sigma_m = anchor.sigma * _intraday_weights(rng)
    t_scale = math.sqrt((_T_DOF - 2) / _T_DOF)
    increments = sigma_m * rng.standard_t(_T_DOF, MINUTES_PER_DAY) * t_scale
    jump_at = rng.integers(0, MINUTES_PER_DAY, _MAX_JUMPS_PER_DAY)
    u_high = rng.random(MINUTES_PER_DAY)
    u_low = rng.random(MINUTES_PER_DAY)
    noise = rng.standard_normal(MINUTES_PER_DAY)

    # Weighted Brownian bridge: spread the diffusion's target sum in proportion to variance.
    variance = sigma_m * sigma_m
    target = anchor.log_next_open - anchor.log_open - float(anchor.jumps.sum())
    increments += (target - increments.sum()) * variance / variance.sum()
    np.add.at(increments, jump_at, anchor.jumps)

    log_close = anchor.log_open + np.cumsum(increments)
    log_close[-1] = anchor.log_next_open  # exact join with the next day
    log_open = np.concatenate(([anchor.log_open], log_close[:-1]))
    # Extremes of a Brownian bridge between open and close with the minute's variance.
    mid = log_open + log_close
    spread = (log_close - log_open) ** 2
    log_high = 0.5 * (mid + np.sqrt(spread - 2 * variance * np.log(u_high)))
    log_low = 0.5 * (mid - np.sqrt(spread - 2 * variance * np.log(u_low)))

    # Rounding is monotone, so it keeps high >= max(open, close) and exact aggregation.
    places = _decimals(profile.tick)
    close = np.round(np.exp(log_close), places)
    open_ = np.concatenate(([round(math.exp(anchor.log_open), places)], close[:-1]))
    high = np.maximum(np.round(np.exp(log_high), places), np.maximum(open_, close))
    low = np.minimum(np.round(np.exp(log_low), places), np.minimum(open_, close))

    # Volume rises with volatility (intraday and regime) and with the size of the move.
    base_sigma_m = profile.daily_vol / math.sqrt(MINUTES_PER_DAY)
    activity = (sigma_m / base_sigma_m) ** 0.8
    move = 1.0 + 1.5 * np.abs(increments) / sigma_m
    lognormal = np.exp(0.35 * noise - 0.5 * 0.35**2)
    volume = profile.quote_volume_per_minute / close * activity * move / 2.2 * lognormal
    return _DayPath(open_, high, low, close, np.round(volume, 8), sigma_m)


def _aggregate(path: _DayPath, step: int) -> tuple[np.ndarray, ...]:
    """OHLCV of ``step``-minute candles from one day's 1m path (``step`` divides a day)."""
    if step == 1:
        return path.open, path.high, path.low, path.close, path.volume
    shape = (MINUTES_PER_DAY // step, step)
    return (
        path.open.reshape(shape)[:, 0],
        path.high.reshape(shape).max(axis=1),
        path.low.reshape(shape).min(axis=1),
        path.close.reshape(shape)[:, -1],
        path.volume.reshape(shape).sum(axis=1),
    )


def synthesize_book(
    exchange: str,
    symbol: str,
    ts: datetime,
    mid: float,
    sigma_1m: float,
    tick: float,
    depth: int,
    seed: int,
    quote_size: float,
    source: str,
) -> OrderBook:
    """A deterministic top-``depth`` book around ``mid``.

    The spread is a few bps and widens with the per-minute volatility ``sigma_1m`` (log);
    levels step away from the mid by growing gaps; sizes thin out away from the mid.
    ``quote_size`` is the typical value (quote currency) resting at the best level.
    ``mid`` is put on the tick grid, so best bid < mid < best ask holds exactly.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if mid <= 0 or tick <= 0:
        raise ValueError(f"mid and tick must be > 0, got mid={mid}, tick={tick}")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 2])))
    center = round(mid / tick)
    spread_bps = 1.0 + 0.5 * sigma_1m * 1e4
    half_spread = max(1, round(mid * spread_bps * 0.5e-4 / tick))
    step = max(1.0, mid * (0.5 + 0.5 * sigma_1m * 1e4) * 0.3e-4 / tick)
    levels = np.arange(depth)

    def side(direction: int) -> list[tuple[float, float]]:
        gaps = np.maximum(1, np.round(step * (1 + 0.1 * levels) * (0.5 + rng.random(depth))))
        gaps[0] = half_spread
        offsets = np.cumsum(gaps).astype(np.int64)
        prices = np.round((center + direction * offsets) * tick, _decimals(tick))
        sizes = quote_size / mid * np.exp(-levels / 8.0) * np.exp(0.5 * rng.standard_normal(depth))
        lot = tick_for_price(quote_size / mid) / 10.0
        amounts = np.maximum(lot, np.round(sizes, _decimals(lot)))
        keep = prices > 0
        return list(zip(prices[keep].tolist(), amounts[keep].tolist(), strict=True))

    return OrderBook(
        exchange=exchange,
        symbol=symbol,
        ts=ts,
        bids=side(-1),
        asks=side(+1),
        source=source,
    )


def order_book_times(
    day_start: datetime,
    day_end: datetime,
    every: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
) -> list[datetime]:
    """The snapshot grid of a daily order-book partition: ``day_start + k * every`` in
    ``[day_start, day_end)``, never after ``now`` (wall clock by default). Offline backends
    can snapshot any past instant; ccxt can only snapshot the present."""
    if every <= timedelta(0):
        raise ValueError(f"every must be positive, got {every}")
    limit = naive_utc(now) if now is not None else utc_now()
    start, end = naive_utc(day_start), naive_utc(day_end)
    times = []
    moment = start
    while moment < end and moment <= limit:
        times.append(moment)
        moment += every
    return times


_Caches = tuple[
    threading.Lock,
    dict[tuple[str, str], _AnchorChain],
    OrderedDict[tuple[str, str, int], _DayPath],
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

    def _anchor(self, exchange: str, symbol: str, day: int) -> _DayAnchor:
        profile = symbol_profile(symbol)
        with self._lock:
            chain = self._chains.setdefault((exchange, symbol), _AnchorChain())
            while chain.days <= day:
                _extend_chain(chain, profile, self.seed, self._series_key(exchange, symbol))
            block, i = divmod(day, _BLOCK_DAYS)
            return _DayAnchor(
                trend=int(chain.trend[block][i]),
                vol_regime=int(chain.vol_regime[block][i]),
                sigma=float(chain.sigma[block][i]),
                jumps=chain.jumps[block][i],
                log_open=chain.log_open[day],
                log_next_open=chain.log_open[day + 1],
            )

    def _day(self, exchange: str, symbol: str, day: int) -> _DayPath:
        key = (exchange, symbol, day)
        with self._lock:
            cached = self._days.get(key)
            if cached is not None:
                self._days.move_to_end(key)
                return cached
        anchor = self._anchor(exchange, symbol, day)
        seq = np.random.SeedSequence([self.seed, self._series_key(exchange, symbol), 3, day])
        path = _day_path(anchor, symbol_profile(symbol), np.random.Generator(np.random.PCG64(seq)))
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
            columns = _aggregate(self._day(exchange, symbol, day), step)
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
            _minute_trades(
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


def _minute_trades(candles: pd.DataFrame, rng: np.random.Generator, tick: float) -> pd.DataFrame:
    """Trades of one day's 1m candles (see :meth:`SimMarket.fetch_trades`)."""
    n = len(candles)
    counts = 4 + np.minimum(rng.poisson(8, n), 40)
    owner = np.repeat(np.arange(n), counts)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    last = first + counts - 1
    position = np.arange(len(owner)) - first[owner]
    o, h, lo, c, v = (
        candles[k].to_numpy()[owner] for k in ("open", "high", "low", "close", "volume")
    )
    # In time order: the open, then the low and the high (low first on an up candle), trades
    # inside the range, and the close last.
    price = np.round(lo + (h - lo) * rng.random(len(owner)), _decimals(tick))
    up = c >= o
    price = np.where(position == 1, np.where(up, lo, h), price)
    price = np.where(position == 2, np.where(up, h, lo), price)
    price = np.where(position == 0, o, price)
    price[last] = c[last]
    weights = rng.random(len(owner)) + 0.05
    amount = np.round(v * weights / np.bincount(owner, weights)[owner], 8)
    # Sorted random offsets within each minute, so positions are also time order.
    offsets = np.sort(owner + rng.random(len(owner))) - owner
    minute_ms = candles["ts"].to_numpy().astype("datetime64[ms]").astype(np.int64)[owner]
    ts = (minute_ms + np.floor(offsets * 60_000).astype(np.int64)).astype("datetime64[ms]")
    prev = np.concatenate(([price[0]], price[:-1]))
    return pd.DataFrame(
        {
            "exchange": candles["exchange"].to_numpy()[owner],
            "symbol": candles["symbol"].to_numpy()[owner],
            "ts": ts.astype("datetime64[us]"),
            "trade_id": ((minute_ms // 60_000) * 100 + position).astype(str),
            "side": np.where(price >= prev, "buy", "sell"),
            "price": price,
            "amount": amount,
        },
        columns=TRADE_COLUMNS,
    )
