"""The sim market: deterministic, window-independent, internally consistent and realistic."""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from trading_core.market.base import OHLCV_COLUMNS, MarketSource
from trading_core.market.sim import (
    SimMarket,
    order_book_times,
    symbol_profile,
    synthesize_book,
)

LATER = datetime(2030, 1, 1)  # a "now" after every window used here: all candles are closed
DAY = datetime(2025, 3, 14)


@pytest.fixture(scope="module")
def sim() -> SimMarket:
    return SimMarket(seed=7)


def _day(sim: SimMarket, symbol: str, timeframe: str, day: datetime, days: int = 1):
    return sim.fetch_ohlcv("sim", symbol, timeframe, day, day + timedelta(days=days), now=LATER)


def test_implements_market_source(sim: SimMarket) -> None:
    assert isinstance(sim, MarketSource)
    frame = _day(sim, "BTC/USDT", "1m", DAY)
    assert list(frame.columns) == OHLCV_COLUMNS
    assert len(frame) == 1440
    assert frame["ts"].dtype == "datetime64[us]"
    assert frame["ts"].iloc[0] == pd.Timestamp(DAY)
    assert frame["ts"].is_monotonic_increasing
    assert set(frame["exchange"]) == {"sim"} and set(frame["symbol"]) == {"BTC/USDT"}


def test_a_day_is_the_same_in_one_call_in_pieces_and_inside_a_longer_window() -> None:
    whole = _day(SimMarket(seed=7), "ETH/USDT", "1m", DAY)
    cold = SimMarket(seed=7)  # a fresh instance: no cache shared with the first fetch
    bounds = [DAY + timedelta(hours=h) for h in (0, 5, 10, 15, 20, 24)]
    pieces = pd.concat(
        [
            cold.fetch_ohlcv("sim", "ETH/USDT", "1m", lo, hi, now=LATER)
            for lo, hi in itertools.pairwise(bounds)
        ],
        ignore_index=True,
    )
    wider = _day(SimMarket(seed=7), "ETH/USDT", "1m", DAY - timedelta(days=1), days=3)
    inside = wider[(wider["ts"] >= DAY) & (wider["ts"] < DAY + timedelta(days=1))]
    pd.testing.assert_frame_equal(whole, pieces)
    pd.testing.assert_frame_equal(whole, inside.reset_index(drop=True))


def test_the_same_seed_gives_the_same_market_in_another_process(sim: SimMarket) -> None:
    code = (
        "from datetime import datetime\n"
        "from trading_core.market.sim import SimMarket\n"
        "f = SimMarket(seed=7).fetch_ohlcv('sim', 'SOL/USDT', '1m', datetime(2025, 3, 14, 6),"
        " datetime(2025, 3, 14, 7), now=datetime(2030, 1, 1))\n"
        "print(f[['open', 'high', 'low', 'close', 'volume']].to_csv(index=False))\n"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = sim.fetch_ohlcv(
        "sim", "SOL/USDT", "1m", DAY.replace(hour=6), DAY.replace(hour=7), now=LATER
    )
    assert (
        other.stdout.strip()
        == here[["open", "high", "low", "close", "volume"]].to_csv(index=False).strip()
    )


def test_another_seed_gives_another_market(sim: SimMarket) -> None:
    other = _day(SimMarket(seed=8), "BTC/USDT", "1h", DAY)
    assert not np.allclose(other["close"], _day(sim, "BTC/USDT", "1h", DAY)["close"])


@pytest.mark.parametrize("timeframe", ["5m", "15m", "1h", "4h", "1d"])
def test_higher_timeframes_are_exact_aggregates_of_the_1m_path(
    sim: SimMarket, timeframe: str
) -> None:
    minutes = _day(sim, "BTC/USDT", "1m", DAY, days=2)
    higher = _day(sim, "BTC/USDT", timeframe, DAY, days=2)
    groups = minutes.groupby(minutes["ts"].dt.floor(pd.Timedelta(timeframe.replace("m", "min"))))
    expected = groups.agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
    )
    assert list(higher["ts"]) == list(expected.index)
    for column in ("open", "high", "low", "close"):
        assert higher[column].tolist() == expected[column].tolist()
    np.testing.assert_allclose(higher["volume"], expected["volume"], rtol=1e-12)


@pytest.mark.parametrize("symbol", ["BTC/USDT", "ETH/USDT", "SOL/USDT", "PEPE/USDT", "ETH/BTC"])
def test_every_candle_satisfies_the_ohlc_invariants_and_days_join(
    sim: SimMarket, symbol: str
) -> None:
    frame = _day(sim, symbol, "1m", DAY, days=3)
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["low"] > 0).all() and (frame["volume"] > 0).all()
    # Continuous path: each candle opens at the previous close, across midnight too.
    assert (frame["open"].iloc[1:].to_numpy() == frame["close"].iloc[:-1].to_numpy()).all()
    assert not frame[["open", "high", "low", "close", "volume"]].isna().any().any()


def test_only_closed_candles_and_a_new_one_every_minute(sim: SimMarket) -> None:
    now = DAY.replace(hour=12, second=30)
    minutes = sim.fetch_ohlcv("sim", "BTC/USDT", "1m", DAY, DAY + timedelta(days=1), now=now)
    hours = sim.fetch_ohlcv("sim", "BTC/USDT", "1h", DAY, DAY + timedelta(days=1), now=now)
    assert minutes["ts"].iloc[-1] == pd.Timestamp(DAY.replace(hour=11, minute=59))
    assert hours["ts"].iloc[-1] == pd.Timestamp(DAY.replace(hour=11))
    # A candle is closed exactly when ts + timeframe <= now.
    at_boundary = sim.fetch_ohlcv(
        "sim", "BTC/USDT", "1h", DAY, DAY + timedelta(days=1), now=DAY.replace(hour=12)
    )
    assert at_boundary["ts"].iloc[-1] == pd.Timestamp(DAY.replace(hour=11))
    a_minute_later = sim.fetch_ohlcv(
        "sim", "BTC/USDT", "1m", DAY, DAY + timedelta(days=1), now=now + timedelta(minutes=1)
    )
    assert len(a_minute_later) == len(minutes) + 1
    pd.testing.assert_frame_equal(a_minute_later.iloc[:-1], minutes)


def test_windows_before_the_epoch_or_empty_give_no_rows(sim: SimMarket) -> None:
    assert sim.fetch_ohlcv(
        "sim", "BTC/USDT", "1h", datetime(2010, 1, 1), datetime(2011, 1, 1), now=LATER
    ).empty
    assert sim.fetch_ohlcv("sim", "BTC/USDT", "1h", DAY, DAY, now=LATER).empty
    assert (
        list(sim.fetch_ohlcv("sim", "BTC/USDT", "1h", DAY, DAY, now=LATER).columns) == OHLCV_COLUMNS
    )


def test_unknown_exchange_and_timeframe_are_named_in_the_error(sim: SimMarket) -> None:
    with pytest.raises(ValueError, match="'binance'"):
        sim.fetch_ohlcv("binance", "BTC/USDT", "1h", DAY, DAY + timedelta(days=1), now=LATER)
    with pytest.raises(ValueError, match=r"'7m'.*allowed"):
        sim.fetch_ohlcv("sim", "BTC/USDT", "7m", DAY, DAY + timedelta(days=1), now=LATER)


def test_minute_returns_cluster_and_have_fat_tails(sim: SimMarket) -> None:
    frame = _day(sim, "BTC/USDT", "1m", datetime(2024, 1, 1), days=30)
    returns = np.log(frame["close"]).diff().dropna()
    magnitude = returns.abs()
    assert all(magnitude.autocorr(lag) > 0.1 for lag in (1, 5, 30))
    assert returns.kurt() + 3 > 6  # pandas gives excess kurtosis; a normal has 3
    # Volume rises with the size of the move.
    assert frame["volume"].iloc[1:].corr(magnitude, method="spearman") > 0.3


def test_regimes_trend_both_ways_range_and_change_volatility(sim: SimMarket) -> None:
    regimes = sim.regimes("BTC/USDT", date(2023, 1, 1), date(2025, 1, 1))
    assert set(regimes["trend"]) == {"range", "up", "down"}
    assert set(regimes["vol_regime"]) == {"calm", "stormy"}
    daily = _day(sim, "BTC/USDT", "1d", datetime(2023, 1, 1), days=731)
    returns = np.log(daily["close"]).diff()
    monthly_vol = returns.groupby(daily["ts"].dt.to_period("M")).std()
    assert monthly_vol.max() / monthly_vol.min() > 2
    thirty_day = np.log(daily["close"]).diff(30)
    assert thirty_day.max() > 0.15 and thirty_day.min() < -0.15
    # The regime label drives the drift: up days outperform down days on average.
    by_trend = returns.shift(-1).groupby(regimes["trend"].to_numpy()).mean()
    assert by_trend["up"] > by_trend["down"]


@pytest.mark.parametrize(
    ("symbol", "low", "high"),
    [("BTC/USDT", 50_000, 120_000), ("ETH/USDT", 1_800, 4_500), ("SOL/USDT", 80, 260)],
)
def test_price_levels_are_plausible(sim: SimMarket, symbol: str, low: float, high: float) -> None:
    daily = _day(sim, symbol, "1d", datetime(2021, 1, 1), days=4 * 365)
    assert low < daily["close"].median() < high


def test_other_symbols_get_stable_hash_derived_profiles() -> None:
    assert symbol_profile("PEPE/USDT") == symbol_profile("PEPE/USDT")
    assert symbol_profile("PEPE/USDT") != symbol_profile("WIF/USDT")
    assert symbol_profile("BTC/USDC") == symbol_profile("BTC/USDT")


def test_book_is_consistent_with_the_candles(sim: SimMarket) -> None:
    at = DAY.replace(hour=9, minute=17, second=42)
    book = sim.fetch_order_book("sim", "BTC/USDT", depth=20, at=at)
    candle = sim.fetch_ohlcv("sim", "BTC/USDT", "1m", at - timedelta(minutes=2), at, now=at).iloc[
        -1
    ]
    assert candle["ts"] == pd.Timestamp(DAY.replace(hour=9, minute=16))
    best_bid, best_ask = book.bids[0][0], book.asks[0][0]
    assert best_bid < book.mid < best_ask
    assert candle["low"] <= book.mid <= candle["high"]
    assert book.mid == pytest.approx(candle["close"], abs=1e-6)
    assert 0.5 < (best_ask - best_bid) / book.mid * 1e4 < 50  # a few bps
    bid_prices = [p for p, _ in book.bids]
    ask_prices = [p for p, _ in book.asks]
    assert bid_prices == sorted(bid_prices, reverse=True) and len(set(bid_prices)) == 20
    assert ask_prices == sorted(ask_prices) and len(set(ask_prices)) == 20
    assert all(a > 0 for _, a in book.bids + book.asks)
    assert book.ts == at and book.source == "sim"
    assert sim.fetch_order_book("sim", "BTC/USDT", depth=20, at=at) == book


def test_book_model_widens_with_volatility_and_thins_out_away_from_the_mid() -> None:
    def book(sigma: float):
        return synthesize_book("x", "BTC/USDT", DAY, 80_000.0, sigma, 0.01, 40, 1, 50_000.0, "t")

    calm, stormy = book(0.0005), book(0.003)
    spread = lambda b: b.asks[0][0] - b.bids[0][0]  # noqa: E731
    assert spread(stormy) > 2 * spread(calm)
    sizes = np.array([a for _, a in calm.bids])
    assert sizes[:5].mean() > sizes[-5:].mean()
    assert len(book(0.001).to_frame()) == 80


def test_order_book_times_cover_the_day_up_to_now() -> None:
    full = order_book_times(DAY, DAY + timedelta(days=1), now=LATER)
    assert len(full) == 288 and full[0] == DAY and full[-1] == DAY + timedelta(hours=23, minutes=55)
    partial = order_book_times(
        DAY, DAY + timedelta(days=1), timedelta(hours=1), now=DAY.replace(hour=3, minute=10)
    )
    assert partial == [DAY + timedelta(hours=h) for h in range(4)]


def test_trade_tape_is_consistent_with_the_candles(sim: SimMarket) -> None:
    start = DAY.replace(hour=10)
    trades = sim.fetch_trades("sim", "ETH/USDT", start, start + timedelta(minutes=30), now=LATER)
    candles = sim.fetch_ohlcv(
        "sim", "ETH/USDT", "1m", start, start + timedelta(minutes=30), now=LATER
    )
    per_minute = trades.groupby(trades["ts"].dt.floor("min")).agg(
        open=("price", "first"),
        high=("price", "max"),
        low=("price", "min"),
        close=("price", "last"),
        volume=("amount", "sum"),
    )
    assert list(per_minute.index) == list(candles["ts"])
    for column in ("open", "high", "low", "close"):
        assert per_minute[column].tolist() == candles[column].tolist()
    np.testing.assert_allclose(per_minute["volume"], candles["volume"], rtol=1e-6)
    assert trades["ts"].is_monotonic_increasing and trades["trade_id"].is_unique
    assert set(trades["side"]) == {"buy", "sell"}


def test_each_simulated_exchange_is_its_own_market() -> None:
    two = SimMarket(seed=7, exchanges=("sim", "sim2"))
    a = _day(two, "BTC/USDT", "1h", DAY)
    b = two.fetch_ohlcv("sim2", "BTC/USDT", "1h", DAY, DAY + timedelta(days=1), now=LATER)
    assert set(b["exchange"]) == {"sim2"} and not np.allclose(a["close"], b["close"])
    pd.testing.assert_frame_equal(a, _day(SimMarket(seed=7), "BTC/USDT", "1h", DAY))
