"""Partition windows, incremental fetch windows and gap reports."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from trading_core.market.ingest import (
    Gap,
    fetch_window,
    find_gaps,
    incremental_start,
    partition_window,
)
from trading_core.market.replay import ReplayMarket
from trading_core.market.sim import SimMarket

T0 = datetime(2025, 1, 1)


def _at(*hours: int) -> list[datetime]:
    return [T0 + timedelta(hours=h) for h in hours]


@pytest.mark.parametrize("day", ["2025-01-01", date(2025, 1, 1), datetime(2025, 1, 1, 13, 5)])
def test_partition_window_is_the_utc_day(day: object) -> None:
    assert partition_window(day) == (T0, T0 + timedelta(days=1))


def test_find_gaps_reports_each_run_of_missing_candles() -> None:
    gaps = find_gaps(_at(5, 0, 1, 1, 4, 9), "1h")  # any order, duplicates ignored
    assert gaps == [Gap(T0 + timedelta(hours=2), T0 + timedelta(hours=4), 2), Gap(*_at(6, 9), 3)]
    assert find_gaps(_at(0, 1, 2), "1h") == []
    assert find_gaps(pd.Series(_at(0, 2)).astype("datetime64[us]"), "1h") == [Gap(*_at(1, 2), 1)]


def test_find_gaps_with_a_window_reports_the_edges_too() -> None:
    gaps = find_gaps(_at(2, 3), "1h", start=T0, end=T0 + timedelta(hours=6))
    assert gaps == [Gap(*_at(0, 2), 2), Gap(*_at(4, 6), 2)]
    assert find_gaps([], "1h", start=T0 + timedelta(minutes=30), end=T0 + timedelta(hours=3)) == [
        Gap(*_at(1, 3), 2)
    ]


def test_find_gaps_follows_the_grid_of_the_data_for_any_step() -> None:
    mondays = [datetime(2025, 1, 6), datetime(2025, 1, 20)]  # weekly candles open on Mondays
    assert find_gaps(mondays, timedelta(weeks=1), start=datetime(2024, 12, 31)) == [
        Gap(datetime(2025, 1, 13), datetime(2025, 1, 20), 1)
    ]


def test_incremental_start_refetches_the_last_candles_and_stays_in_the_window() -> None:
    end = T0 + timedelta(days=1)
    assert incremental_start(T0, end, "1h", None, 3) == T0
    assert incremental_start(T0, end, "1h", T0 + timedelta(hours=10), 3) == T0 + timedelta(hours=8)
    assert incremental_start(T0, end, "1h", T0 + timedelta(hours=10), 0) == T0 + timedelta(hours=11)
    assert incremental_start(T0, end, "1h", T0 - timedelta(days=3), 3) == T0
    with pytest.raises(ValueError, match="refetch"):
        incremental_start(T0, end, "1h", None, -1)


def test_fetch_window_of_a_finished_day_is_complete() -> None:
    fetched = fetch_window(
        SimMarket(), "sim", "BTC/USDT", "1m", *partition_window(T0), now=T0 + timedelta(days=2)
    )
    assert (fetched.expected, len(fetched.frame), fetched.gaps, fetched.gap_ratio) == (
        1440,
        1440,
        [],
        0.0,
    )
    assert fetched.fetch_start == T0


def test_fetch_window_of_today_stops_at_the_last_closed_candle_and_resumes() -> None:
    now = T0 + timedelta(hours=12, seconds=30)
    fetched = fetch_window(
        SimMarket(),
        "sim",
        "BTC/USDT",
        "1m",
        *partition_window(T0),
        now=now,
        last_stored=T0 + timedelta(hours=11),
    )
    assert fetched.fetch_start == T0 + timedelta(hours=10, minutes=58)
    assert fetched.frame["ts"].iloc[0] == pd.Timestamp(fetched.fetch_start)
    assert fetched.frame["ts"].iloc[-1] == pd.Timestamp(T0 + timedelta(hours=11, minutes=59))
    assert fetched.expected == len(fetched.frame) == 62 and fetched.gaps == []


def test_fetch_window_reports_real_gaps_without_filling_them(shared_data: Path) -> None:
    source = ReplayMarket(shared_data / "market")
    first_gap = find_gaps(source.candles("binance", "XRP/USDT", "1h")["ts"], "1h")[0]
    start, end = partition_window(first_gap.start)
    fetched = fetch_window(
        source, "binance", "XRP/USDT", "1h", start, end, now=datetime(2030, 1, 1)
    )
    assert fetched.expected == 24
    assert first_gap in fetched.gaps
    assert len(fetched.frame) == 24 - fetched.missing
    assert fetched.gap_ratio == pytest.approx(fetched.missing / 24)
    assert fetched.gaps[0].as_dict()["missing"] == fetched.gaps[0].missing
