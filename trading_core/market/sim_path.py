"""The simulated price process: the daily anchor chain, each day's 1m path, and its tape.

The anchor chain (trend and volatility regimes, stochastic daily volatility, jumps, the
day's open) is extended from the epoch in blocks of ``BLOCK_DAYS`` days, each from its own
seeded generator; ``day_path`` draws one day's 1m candles bridged to the next day's anchored
open; ``aggregate`` makes the higher timeframes exactly from it; ``minute_trades`` is a tape
consistent with the 1m candles. Everything is a pure function of its generator: the caller
(``trading_core.market.sim``) owns the seeds and the caches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trading_core.market.base import TRADE_COLUMNS
from trading_core.market.sim_profile import SymbolProfile, decimals

MINUTES_PER_DAY = 1440

BLOCK_DAYS = 256
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


@dataclass
class AnchorChain:
    """Per-day state of one symbol, extended block by block from the epoch."""

    trend: list[np.ndarray] = field(default_factory=list)
    vol_regime: list[np.ndarray] = field(default_factory=list)
    sigma: list[np.ndarray] = field(default_factory=list)
    jumps: list[np.ndarray] = field(default_factory=list)  # (days, _MAX_JUMPS_PER_DAY)
    log_open: list[float] = field(default_factory=list)  # one more than days
    state: tuple[int, int, float] = (0, 0, 0.0)  # trend, vol regime, log-vol deviation

    @property
    def days(self) -> int:
        return len(self.trend) * BLOCK_DAYS


@dataclass(frozen=True)
class DayAnchor:
    """What the daily chain fixes for one day; the intraday path must honour it."""

    trend: int
    vol_regime: int
    sigma: float  # the day's log-return std
    jumps: np.ndarray  # jump sizes (log), zeros for no jump
    log_open: float
    log_next_open: float


@dataclass(frozen=True)
class DayPath:
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    sigma: np.ndarray  # per-minute diffusion std (log)


def extend_chain(chain: AnchorChain, profile: SymbolProfile, seed: int, symbol_key: int) -> None:
    """Append one block of days; each block has its own generator, so results never depend on
    how far the chain was extended before."""
    block = len(chain.trend)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, symbol_key, 1, block])))
    u_trend = rng.random(BLOCK_DAYS)
    pick_trend = rng.integers(1, len(TREND_REGIMES), BLOCK_DAYS)
    u_vol = rng.random(BLOCK_DAYS)
    z_logvol = rng.standard_normal(BLOCK_DAYS)
    z_ret = rng.standard_normal(BLOCK_DAYS)
    n_jumps = np.minimum(rng.poisson(_JUMPS_PER_DAY, BLOCK_DAYS), _MAX_JUMPS_PER_DAY)
    z_jump = rng.standard_normal((BLOCK_DAYS, _MAX_JUMPS_PER_DAY))

    trend = np.empty(BLOCK_DAYS, dtype=np.int8)
    vol_regime = np.empty(BLOCK_DAYS, dtype=np.int8)
    sigma = np.empty(BLOCK_DAYS)
    jumps = np.zeros((BLOCK_DAYS, _MAX_JUMPS_PER_DAY))
    if not chain.log_open:
        chain.log_open.append(math.log(profile.center_price))
    log_center = math.log(profile.center_price)
    log_p = chain.log_open[-1]
    t_state, v_state, h = chain.state
    logvol_shock = _DAILY_LOGVOL_STD * math.sqrt(1 - _DAILY_LOGVOL_PHI**2)
    for i in range(BLOCK_DAYS):
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


def day_path(anchor: DayAnchor, profile: SymbolProfile, rng: np.random.Generator) -> DayPath:
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
    places = decimals(profile.tick)
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
    return DayPath(open_, high, low, close, np.round(volume, 8), sigma_m)


def aggregate(path: DayPath, step: int) -> tuple[np.ndarray, ...]:
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


def minute_trades(candles: pd.DataFrame, rng: np.random.Generator, tick: float) -> pd.DataFrame:
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
    price = np.round(lo + (h - lo) * rng.random(len(owner)), decimals(tick))
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
