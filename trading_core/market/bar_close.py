"""When an evaluation of the live loop is due: armed just before a bar closes.

A run costs a few seconds before its first step (the daemon's sensor pass, the queue, the
run process loading the code location). So the new-bar sensor requests the evaluation of a
bar ``lead`` wall seconds *before* it closes; the run's ingest step then waits for the close
on the market clock (``wait_for_close``) and fetches the bar the moment it exists, and the
signals and the strategy follow in the same run. Bar close -> intent is the ingest, the dbt
signal chain and the strategy, not the launch.

Pure functions of the market clock: the same on the wall clock and over history played
forward (where a bar is ``replay_pace_seconds`` of wall time).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from trading_core.market.clock import MarketClock
from trading_core.timeframes import timeframe_delta, utc_now


def floor_close(moment: datetime, timeframe: str) -> datetime:
    """The newest bar close of ``timeframe`` at or before ``moment`` (epoch-aligned, UTC)."""
    step = timeframe_delta(timeframe)
    epoch = datetime(1970, 1, 1)
    return epoch + ((moment - epoch) // step) * step


def due_close(
    clock: MarketClock, wall: datetime, timeframe: str, lead_seconds: float
) -> datetime | None:
    """The bar close an evaluation is due for at wall instant ``wall``: the next close when
    the market reaches it within ``lead_seconds`` of wall time, else the newest close already
    reached. None when the market has no bar close at all (it stands still before its first)."""
    now = clock.at(wall)
    reached = floor_close(now, timeframe)
    upcoming = reached + timeframe_delta(timeframe)
    upcoming_wall = clock.wall_at(upcoming)
    if upcoming_wall is not None and upcoming_wall - wall <= timedelta(seconds=lead_seconds):
        return upcoming
    return reached


def seconds_until(
    clock: MarketClock, close: datetime, wall_now: Callable[[], datetime] = utc_now
) -> float | None:
    """Wall seconds until the market clock reaches ``close`` (negative once it has); None
    when it never does."""
    target = clock.wall_at(close)
    return None if target is None else (target - wall_now()).total_seconds()


def wait_for_close(
    clock: MarketClock,
    close: datetime,
    settle_seconds: float,
    max_wait_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    wall_now: Callable[[], datetime] = utc_now,
) -> float:
    """Block until the market clock is ``settle_seconds`` past ``close`` (exchanges need a
    moment to finalise a candle), at most ``max_wait_seconds``; returns the seconds waited.
    A close the market never reaches (data that ends first) returns at once."""
    target = clock.wall_at(close)
    if target is None:
        return 0.0
    target += timedelta(seconds=settle_seconds)
    waited = 0.0
    while waited < max_wait_seconds:
        left = (target - wall_now()).total_seconds()
        if left <= 0:
            break
        step = min(left, max_wait_seconds - waited, 0.5)
        sleep(step)
        waited += step
    return waited
