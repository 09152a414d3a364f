"""Planning a raw/ohlcv partition: what to fetch given what is stored, and what it then holds."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from trading_core.config import MarketConfig
from trading_core.market.ingest import partition_window
from trading_core.market.ingest_plan import fetch_partition, in_progress, plan_series
from trading_core.market.sim import SimMarket
from trading_core.series import SeriesKey

T0 = datetime(2025, 1, 1)
START, END = partition_window(T0)
SERIES = SeriesKey("sim", "BTC/USDT", "1h")
SIM = SimMarket()


def stored(*hours: int, series: SeriesKey = SERIES) -> pd.DataFrame:
    """Rows of raw.ohlcv for the given open hours of T0, in the order given."""
    frame = SIM.fetch_ohlcv(series.exchange, series.symbol, series.timeframe, START, END, now=END)
    frame = frame.set_index(frame["ts"].dt.hour).loc[list(hours)].reset_index(drop=True)
    return frame.assign(source="sim", ingested_at=T0)


def test_only_the_day_in_progress_is_incremental() -> None:
    assert in_progress(END, END - timedelta(seconds=1))
    assert not in_progress(END, END)  # the day's last candle has closed
    assert not in_progress(END, END + timedelta(days=3))


def test_a_past_day_is_fetched_whole_whatever_is_stored() -> None:
    plan = plan_series(SERIES, START, END, END + timedelta(hours=1), stored(*range(24)), 3)
    assert (plan.fetch_start, plan.last_stored, len(plan.head)) == (START, None, 0)


def test_the_day_in_progress_without_stored_candles_starts_at_the_window() -> None:
    plan = plan_series(SERIES, START, END, T0 + timedelta(hours=11, minutes=5), stored(), 3)
    assert (plan.fetch_start, plan.last_stored, len(plan.head)) == (START, None, 0)


@pytest.mark.parametrize(
    ("refetch", "fetch_from", "head"),
    [(0, 11, 11), (3, 8, 8), (11, 0, 0), (50, 0, 0)],
)
def test_the_day_in_progress_resumes_refetch_candles_before_the_next_one(
    refetch: int, fetch_from: int, head: int
) -> None:
    now = T0 + timedelta(hours=11, minutes=5)
    plan = plan_series(SERIES, START, END, now, stored(*range(11)), refetch)
    assert plan.last_stored == T0 + timedelta(hours=10)
    assert plan.fetch_start == T0 + timedelta(hours=fetch_from)
    assert plan.head["ts"].tolist() == [pd.Timestamp(T0 + timedelta(hours=h)) for h in range(head)]


def test_the_stored_order_does_not_matter() -> None:
    now = T0 + timedelta(hours=11, minutes=5)
    plan = plan_series(SERIES, START, END, now, stored(7, 2, 10, 0, 5), 3)
    assert plan.fetch_start == T0 + timedelta(hours=8)
    assert sorted(plan.head["ts"].dt.hour) == [0, 2, 5, 7]


def test_a_negative_refetch_is_refused() -> None:
    with pytest.raises(ValueError, match="refetch"):
        plan_series(SERIES, START, END, T0 + timedelta(hours=5), stored(0, 1), -1)


def config(**overrides: object) -> MarketConfig:
    base = {"exchanges": ["sim"], "symbols": ["BTC/USDT"], "timeframes": ["1h"]}
    return MarketConfig.model_validate({**base, **overrides})


def test_a_past_partition_is_fetched_and_validated_whole() -> None:
    cfg = config(timeframes=["1h", "4h"])
    batch = fetch_partition(SIM, cfg, "2025-01-01|BTC-USDT", "BTC/USDT", (START, END), END)
    assert (batch.key, batch.symbol, batch.start, batch.end) == (
        "2025-01-01|BTC-USDT", "BTC/USDT", START, END,
    )  # fmt: skip
    assert batch.fetched == len(batch.received) == 24 + 6
    assert batch.kept_heads == [] and batch.gaps == []
    assert set(batch.received["source"]) == {"sim"}
    assert all(outcome.passed for outcome in batch.outcomes)


def test_the_day_in_progress_keeps_its_stored_head_and_fetches_the_rest() -> None:
    now = T0 + timedelta(hours=11)  # 10:00 is the last closed candle
    head = stored(*range(8))  # 00:00..07:00 stored
    batch = fetch_partition(SIM, config(), "k", "BTC/USDT", (START, END), now, head)
    assert batch.kept_heads == [(SERIES, T0 + timedelta(hours=5))]  # refetch 3 before 08:00
    assert batch.fetched == 6  # 05:00..10:00
    assert batch.received["ts"].dt.hour.tolist() == list(range(11))
    assert batch.received["ingested_at"].tolist() == [T0] * 5 + [now] * 6
    assert batch.gaps == []
    assert all(outcome.passed for outcome in batch.outcomes)


def test_gaps_count_the_stored_head_and_name_their_series() -> None:
    now = T0 + timedelta(hours=11)
    holed = stored(0, 1, 2, 3, 4, 5, 6, 9)  # 07:00 and 08:00 never stored
    batch = fetch_partition(
        SIM, config(refetch_candles=0), "k", "BTC/USDT", (START, END), now, holed
    )
    assert batch.kept_heads == [(SERIES, T0 + timedelta(hours=10))]
    assert batch.fetched == 1  # 10:00
    assert batch.gaps == [
        {"series": "sim|BTC/USDT|1h", "start": "2025-01-01T07:00:00",
         "end": "2025-01-01T09:00:00", "missing": 2},
    ]  # fmt: skip
