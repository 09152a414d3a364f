"""Arming evaluations before a bar closes, and waiting for the close, on every kind of clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from trading_core.market.bar_close import due_close, floor_close, seconds_until, wait_for_close
from trading_core.market.clock import MarketClock

T = datetime(2026, 1, 5, 10, 0)


def test_floor_close_aligns_to_the_timeframe() -> None:
    assert floor_close(datetime(2026, 1, 5, 10, 7, 31), "1m") == datetime(2026, 1, 5, 10, 7)
    assert floor_close(datetime(2026, 1, 5, 10, 7, 31), "1h") == datetime(2026, 1, 5, 10)
    assert floor_close(datetime(2026, 1, 5, 10, 0), "4h") == datetime(2026, 1, 5, 8)
    assert floor_close(datetime(2026, 1, 5, 10, 0), "1d") == datetime(2026, 1, 5)


@pytest.mark.parametrize(
    ("second", "expected"),
    [(0, T), (30, T), (49, T), (50, T + timedelta(minutes=1)), (59.9, T + timedelta(minutes=1))],
)
def test_the_next_close_is_due_within_the_lead_on_the_wall_clock(second, expected) -> None:
    wall = T + timedelta(seconds=second)
    assert due_close(MarketClock(), wall, "1m", lead_seconds=10) == expected


def test_a_played_market_arms_by_wall_time_not_market_time() -> None:
    # history from 2025-03-01 played at 5 wall seconds per 1m bar (speed 12)
    clock = MarketClock(start=datetime(2025, 3, 1), wall_start=T, speed=12.0)
    assert clock.wall_at(datetime(2025, 3, 1, 0, 1)) == T + timedelta(seconds=5)
    assert clock.at(clock.wall_at(datetime(2025, 3, 1, 0, 7))) == datetime(2025, 3, 1, 0, 7)
    # 1 wall second in, the first close is 4 wall seconds away: due with a lead of 4
    assert due_close(clock, T + timedelta(seconds=1), "1m", 4) == datetime(2025, 3, 1, 0, 1)
    assert due_close(clock, T + timedelta(seconds=1), "1m", 3) == datetime(2025, 3, 1)


def test_a_market_standing_still_or_ended_never_arms_past_its_data() -> None:
    still = MarketClock(start=datetime(2025, 3, 1, 0, 0, 30))
    assert still.wall_at(datetime(2025, 3, 1, 0, 1)) is None
    assert due_close(still, T, "1m", 3600) == datetime(2025, 3, 1)
    ended = MarketClock(
        start=datetime(2025, 3, 1), wall_start=T, speed=60.0, end=datetime(2025, 3, 1, 1)
    )
    assert ended.wall_at(datetime(2025, 3, 1, 1, 1)) is None
    late = T + timedelta(hours=5)
    assert due_close(ended, late, "1m", 10) == datetime(2025, 3, 1, 1)


def test_wait_for_close_sleeps_until_the_close_plus_settle() -> None:
    now = [T + timedelta(seconds=52)]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += timedelta(seconds=seconds)

    waited = wait_for_close(
        MarketClock(), T + timedelta(minutes=1), 1.0, 30.0, sleep, lambda: now[0]
    )
    assert waited == pytest.approx(9.0)
    assert now[0] == T + timedelta(seconds=61)
    # a close already passed: no wait; a bound: never more than max_wait_seconds
    assert wait_for_close(MarketClock(), T, 1.0, 30.0, sleep, lambda: now[0]) == 0.0
    now[0] = T
    assert (
        wait_for_close(MarketClock(), T + timedelta(hours=1), 0, 5.0, sleep, lambda: now[0]) == 5.0
    )
    # data that ends before the close: nothing to wait for
    ended = MarketClock(start=T, wall_start=T, speed=1.0, end=T + timedelta(seconds=30))
    assert wait_for_close(ended, T + timedelta(minutes=1), 0, 30.0, sleep, lambda: now[0]) == 0.0


def test_seconds_until_the_close_on_the_wall_clock_and_on_a_played_market() -> None:
    wall = T + timedelta(seconds=50)
    assert seconds_until(MarketClock(), T + timedelta(minutes=1), lambda: wall) == 10.0
    assert seconds_until(MarketClock(), T, lambda: wall) == -50.0
    # history played 60x: a market minute is a wall second
    played = MarketClock(start=datetime(2025, 1, 1), wall_start=T, speed=60.0)
    assert seconds_until(played, datetime(2025, 1, 1, 0, 5), lambda: T) == pytest.approx(5.0)
    ended = MarketClock(start=T, wall_start=T, speed=1.0, end=T + timedelta(seconds=30))
    assert seconds_until(ended, T + timedelta(minutes=1), lambda: T) is None
