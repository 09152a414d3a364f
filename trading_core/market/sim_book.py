"""Order books of the offline markets: the synthetic book model and the snapshot grid.

``synthesize_book`` is shared by the simulated market and the replay backend (which uses it
when no recorded snapshot matches); ``order_book_times`` is the snapshot grid of a daily
order-book partition.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from trading_core.market.base import OrderBook
from trading_core.market.sim_profile import decimals, tick_for_price
from trading_core.timeframes import naive_utc, utc_now


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
        prices = np.round((center + direction * offsets) * tick, decimals(tick))
        sizes = quote_size / mid * np.exp(-levels / 8.0) * np.exp(0.5 * rng.standard_normal(depth))
        lot = tick_for_price(quote_size / mid) / 10.0
        amounts = np.maximum(lot, np.round(sizes, decimals(lot)))
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
