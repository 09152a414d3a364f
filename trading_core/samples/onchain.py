"""A synthetic year of daily on-chain metrics for BTC, ETH and SOL.

Series start at a fixed origin and are generated day by day from one stream per series, so a
day's value never changes when the sample is regenerated later (only new days are added).
Levels and shapes are plausible for 2025-era chains: prices mean-revert around a level with
~3 % daily moves, hash rate grows with noise, difficulty follows it in two-week steps,
transaction counts dip at weekends. BTC is written in the blockchain.com layout
(``blockchaincom_btc_<metric>.csv``), ETH and SOL in the Coin Metrics wide layout.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from trading_core.samples.seeding import stream_id

ORIGIN = date(2020, 1, 1)
# difficulty = hash rate [H/s] * block time [s] / 2**32; hash rate is in TH/s here.
DIFFICULTY_PER_THS = 1e12 * 600 / 2**32
SUPPLY = {"ETH": 120.7e6, "SOL": 540e6}
PRICE_LEVEL = {"BTC": 85_000.0, "ETH": 3_000.0, "SOL": 170.0}
TX_LEVEL = {"BTC": 450_000.0, "ETH": 1_300_000.0, "SOL": 45_000_000.0}
ACTIVE_LEVEL = {"BTC": 520_000.0, "ETH": 550_000.0, "SOL": 1_400_000.0}


def _noise(seed: int, series: str, count: int) -> np.ndarray:
    return np.random.default_rng([seed, stream_id(series)]).standard_normal(count)


def _mean_reverting(eps: np.ndarray, level: float, phi: float = 0.995, vol: float = 0.03):
    log_level = np.log(level)
    out = np.empty(len(eps))
    value = log_level
    for i, shock in enumerate(eps):
        value = log_level + phi * (value - log_level) + vol * shock
        out[i] = value
    return np.exp(out)


def _weekly(days: pd.DatetimeIndex, weekend_dip: float) -> np.ndarray:
    return np.where(days.dayofweek >= 5, 1 - weekend_dip, 1.0)


def daily_series(seed: int, asset: str, last_day: date) -> pd.DataFrame:
    """Every metric of ``asset`` for each day from :data:`ORIGIN` to ``last_day``."""
    days = pd.date_range(ORIGIN, last_day, freq="D")
    n = len(days)
    t = np.arange(n)
    price = _mean_reverting(_noise(seed, f"{asset}:price", n), PRICE_LEVEL[asset])
    tx = (
        TX_LEVEL[asset]
        * _weekly(days, 0.15)
        * np.exp(0.06 * _noise(seed, f"{asset}:tx", n) + 0.0002 * t)
    )
    active = ACTIVE_LEVEL[asset] * _weekly(days, 0.1) * np.exp(0.05 * _noise(seed, f"{asset}:a", n))
    frame = pd.DataFrame({"ts": days, "market_price": price, "n_transactions": np.round(tx)})
    if asset == "BTC":
        hash_rate = 1.1e8 * np.exp(0.001 * t + 0.04 * _noise(seed, "BTC:hash", n))
        # Difficulty retargets about every two weeks to the previous period's hash rate.
        period = t // 14
        period_mean = pd.Series(hash_rate).groupby(period).mean()
        previous = period_mean.shift(1).fillna(period_mean.iloc[0])
        frame["hash_rate"] = hash_rate
        frame["difficulty"] = previous.to_numpy()[period] * DIFFICULTY_PER_THS
        frame["n_unique_addresses"] = np.round(active)
    else:
        frame["active_addresses"] = np.round(active)
        frame["market_cap"] = price * SUPPLY[asset]
    return frame


def last_complete_day(today: date) -> date:
    """A daily value is published once its day is over."""
    return today - timedelta(days=1)
