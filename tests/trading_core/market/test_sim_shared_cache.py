"""The sim market's chains and day paths are shared by the instances of one seed."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from trading_core.market import sim
from trading_core.market.sim import SimMarket

START, END = datetime(2026, 3, 1), datetime(2026, 3, 1, 6)


def test_instances_of_a_seed_share_their_days_and_agree(monkeypatch) -> None:
    first = SimMarket(seed=4242)
    candles = first.fetch_ohlcv("sim", "BTC/USDT", "1m", START, END, now=END)
    book = first.fetch_order_book("sim", "BTC/USDT", 5, END)
    built = []
    original = sim.day_path
    monkeypatch.setattr(sim, "day_path", lambda *a: built.append(a) or original(*a))
    second = SimMarket(seed=4242)
    pd.testing.assert_frame_equal(
        second.fetch_ohlcv("sim", "BTC/USDT", "1m", START, END, now=END), candles
    )
    assert second.fetch_order_book("sim", "BTC/USDT", 5, END) == book
    assert built == []  # the second instance built no day: it used the first one's
    other = SimMarket(seed=4243)
    moved = other.fetch_ohlcv("sim", "BTC/USDT", "1m", START, END, now=END)
    assert len(built) == 1  # another seed has its own cache
    assert not moved["close"].equals(candles["close"])
