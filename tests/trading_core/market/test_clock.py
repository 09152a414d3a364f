"""The market clock: the wall clock live, history played forward at a pace, where `make run`
starts it, which days bootstrap and each tick of the played market ingest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from trading_core.config import ConfigError, MarketConfig
from trading_core.market.clock import (
    MarketClock,
    bootstrap_days,
    data_span,
    history_start,
    market_clock,
    played_window,
)
from trading_core.market.replay import ReplaySeries
from trading_core.market.replay_coverage import coverage_problems, replay_span

T0 = datetime(2021, 4, 7)
WALL = datetime(2026, 1, 1, 12)
HOUR = timedelta(hours=1)
HEADER = "timestamp,open,high,low,close,volume\n"


def played(pace: float = 60.0, end: datetime | None = None) -> MarketClock:
    """A 1h market started at T0 at wall instant WALL, ``pace`` wall seconds per bar."""
    return MarketClock(start=T0, wall_start=WALL, speed=3600 / pace, end=end)


def replay_cfg(market_dir: Path, **overrides: object) -> MarketConfig:
    settings: dict[str, object] = {
        "source": "replay",
        "replay_dir": market_dir,
        "exchanges": ["binance"],
        "symbols": ["BTC/USDT", "ETH/USDT"],
        "timeframes": ["1h"],
        "start_date": date(2021, 4, 5),
    }
    return MarketConfig.model_validate({**settings, **overrides})


def test_live_is_the_wall_clock_in_naive_utc() -> None:
    clock = MarketClock()
    assert not clock.moving and not clock.ended(WALL)
    assert clock.at(WALL) == WALL
    assert clock.at(WALL.replace(tzinfo=UTC)) == WALL
    berlin = datetime(2026, 1, 1, 13, tzinfo=UTC).astimezone()  # any offset converts
    assert clock.at(berlin) == WALL + HOUR


def test_without_an_anchor_the_market_stands_still() -> None:
    clock = MarketClock(start=T0)
    assert not clock.moving
    assert clock.at(WALL) == clock.at(WALL + timedelta(days=30)) == T0


def test_history_moves_one_bar_per_pace_and_is_a_pure_function_of_its_inputs() -> None:
    clock = played(pace=5.0)
    assert clock.moving
    assert clock.at(WALL) == T0
    assert clock.at(WALL - timedelta(minutes=5)) == T0  # before the anchor: the start
    assert clock.at(WALL + timedelta(seconds=5)) == T0 + HOUR
    assert clock.at(WALL + timedelta(minutes=1)) == T0 + 12 * HOUR
    again = played(pace=5.0)  # another process, same configuration: the same instant
    assert again.at(WALL + timedelta(seconds=37)) == clock.at(WALL + timedelta(seconds=37))


def test_history_stops_at_the_end_of_its_data_and_never_passes_the_wall_clock() -> None:
    end = T0 + 10 * HOUR
    clock = played(pace=1.0, end=end)
    assert clock.at(WALL + timedelta(seconds=9)) == T0 + 9 * HOUR
    assert not clock.ended(WALL + timedelta(seconds=9))
    assert clock.at(WALL + timedelta(days=400)) == end and clock.ended(WALL + timedelta(hours=1))
    sim = MarketClock(start=WALL - HOUR, wall_start=WALL, speed=3600.0)  # no data end
    assert sim.at(WALL + timedelta(seconds=10)) == WALL + timedelta(seconds=10)


@pytest.mark.parametrize("pace", [1e-6, 86_400.0])
def test_extreme_paces_stay_between_start_and_end(pace: float) -> None:
    end = T0 + 100 * HOUR
    clock = played(pace=pace, end=end)
    moment = clock.at(WALL + timedelta(seconds=1))
    assert T0 <= moment <= end
    assert (moment == end) is (pace < 1)


def test_the_configured_clock_paces_the_shortest_timeframe_and_ends_with_the_data(
    shared_data: Path,
) -> None:
    cfg = replay_cfg(
        shared_data / "market",
        timeframes=["4h", "1h"],
        as_of=T0,
        replay_started_at=WALL,
        replay_pace_seconds=10,
    )
    clock = market_clock(cfg)
    assert clock.speed == 360.0 and clock.start == T0 and clock.wall_start == WALL
    # the 4h files run to 2026-01-05 20:00 (the 1h ones stop in 2023): the latest close wins
    assert clock.end == datetime(2026, 1, 6)
    # 1h only: BTC ends with the 18:00 candle, ETH with 19:00: the market ends when ETH's closes
    hourly = market_clock(cfg.model_copy(update={"timeframes": ["1h"]}))
    assert hourly.end == datetime(2023, 12, 30, 20) and hourly.speed == 360.0
    assert market_clock(replay_cfg(shared_data / "market")) == MarketClock()
    sim = datetime(2025, 6, 1)  # the sim has no data end; 1m bars at 60 s a bar: real time
    assert market_clock(MarketConfig(as_of=sim)) == MarketClock(start=sim, speed=1.0)


def test_make_run_starts_after_the_warm_up_days_of_the_start_date(shared_data: Path) -> None:
    cfg = replay_cfg(shared_data / "market")
    span = data_span(cfg)
    assert span == (datetime(2021, 4, 4, 20), datetime(2023, 12, 30, 20))
    start = history_start(cfg, span, 2, WALL)
    assert start == datetime(2021, 4, 7)
    assert bootstrap_days(start, cfg.start_date, 2) == (date(2021, 4, 5), date(2021, 4, 6))
    # a start date before the data: the warm-up counts from the first full day of data
    early = cfg.model_copy(update={"start_date": date(2020, 1, 1)})
    assert history_start(early, span, 2, WALL) == datetime(2021, 4, 7)


def test_as_of_wins_and_a_restart_resumes_where_the_market_stood(shared_data: Path) -> None:
    as_of = datetime(2022, 3, 1, 13, 30)
    cfg = replay_cfg(shared_data / "market", as_of=as_of)
    span = data_span(cfg)
    assert history_start(cfg, span, 2, WALL) == as_of
    assert history_start(cfg, span, 2, WALL, reached=as_of - HOUR) == as_of  # never back
    assert history_start(cfg, span, 2, WALL, reached=as_of + 5 * HOUR) == as_of + 5 * HOUR
    assert history_start(cfg, span, 2, WALL, reached=datetime(2025, 1, 1)) == span[1]
    # the day in progress at as_of is bootstrapped up to as_of, with the day before it
    assert bootstrap_days(as_of, cfg.start_date, 2) == (date(2022, 2, 28), date(2022, 3, 1))


def test_live_data_and_live_sources_need_no_start(shared_data: Path) -> None:
    cfg = replay_cfg(shared_data / "market")
    span = data_span(cfg)
    assert history_start(cfg, span, 2, now=span[1] - HOUR) is None  # data reaches "now"
    assert history_start(MarketConfig(), None, 2, WALL) is None
    sim = MarketConfig(as_of=datetime(2025, 6, 1))
    assert history_start(sim, None, 2, WALL) == datetime(2025, 6, 1)
    assert history_start(sim, None, 2, WALL, reached=datetime(2025, 6, 2)) == datetime(2025, 6, 2)


def test_a_start_date_after_the_data_names_trading_start_date(shared_data: Path) -> None:
    cfg = replay_cfg(shared_data / "market", start_date=date(2023, 12, 29))
    with pytest.raises(ConfigError) as err:
        history_start(cfg, data_span(cfg), 2, WALL)
    message = str(err.value)
    assert "market.start_date (env TRADING_START_DATE) 2023-12-29 leaves no history" in message
    assert "allowed: a date before 2023-12-28" in message


@pytest.mark.parametrize("as_of", [datetime(2021, 4, 4, 20), datetime(2024, 1, 2)])
def test_an_as_of_outside_the_data_names_trading_market_as_of(
    shared_data: Path, as_of: datetime
) -> None:
    cfg = replay_cfg(shared_data / "market", start_date=date(2021, 4, 1), as_of=as_of)
    with pytest.raises(ConfigError, match=r"market.as_of \(env TRADING_MARKET_AS_OF\).*outside"):
        history_start(cfg, data_span(cfg), 2, WALL)


def test_bootstrap_days_never_start_before_the_start_date() -> None:
    assert bootstrap_days(datetime(2021, 4, 6), date(2021, 4, 5), 3) == (
        date(2021, 4, 5),
        date(2021, 4, 5),
    )
    assert bootstrap_days(datetime(2021, 4, 5), date(2021, 4, 5), 2) is None
    assert bootstrap_days(datetime(2021, 4, 6, 0, 0, 1), date(2021, 1, 1), 1) == (
        date(2021, 4, 6),
        date(2021, 4, 6),
    )


def test_a_tick_ingests_from_the_oldest_series_so_a_skipped_tick_leaves_no_hole() -> None:
    clock = played(pace=1.0)  # a day of 1h bars every 24 wall seconds
    tick = WALL + timedelta(minutes=3)  # market: T0 + 180 h = 2021-04-14 12:00
    window = played_window(clock, tick, timedelta(minutes=1), ingested=None)
    assert window is not None and not window.reaches_end
    assert (window.first, window.last) == (date(2021, 4, 11), date(2021, 4, 14))
    # two ticks were skipped: the oldest series' newest close is still on April 9th
    behind = (datetime(2021, 4, 9, 6), datetime(2021, 4, 9, 7))
    window = played_window(clock, tick, timedelta(minutes=1), ingested=behind)
    assert window is not None and window.first == date(2021, 4, 9)
    # a close at midnight belongs to the day before
    at_midnight = (datetime(2021, 4, 9), datetime(2021, 4, 9))
    window = played_window(clock, tick, timedelta(minutes=1), ingested=at_midnight)
    assert window is not None and window.first == date(2021, 4, 8)


def test_the_tick_that_reaches_the_end_says_so_and_then_ticks_ingest_nothing() -> None:
    end = T0 + 30 * HOUR
    clock = played(pace=1.0, end=end)
    tick = WALL + timedelta(minutes=1)
    window = played_window(clock, tick, timedelta(minutes=1), ingested=(T0, T0))
    assert window is not None and window.reaches_end and window.last == end.date()
    assert played_window(clock, tick, timedelta(minutes=1), ingested=(end - HOUR, end)) is None


def _write(folder: Path, name: str, rows: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(HEADER + "".join(f"{row},1,2,0.5,1.5,10\n" for row in rows))


def test_the_span_of_a_shuffled_or_empty_directory(tmp_path: Path) -> None:
    _write(tmp_path, "binance_BTCUSDT_1h.csv", ["2024-01-01T05:00:00Z", "2024-01-01T01:00:00Z"])
    _write(tmp_path, "binance_ETHUSDT_1h.csv", [])
    btc = ReplaySeries("binance", "BTC/USDT", "1h")
    eth = ReplaySeries("binance", "ETH/USDT", "1h")
    sol = ReplaySeries("binance", "SOL/USDT", "1h")  # no file: left out
    assert replay_span(tmp_path, [btc, eth, sol]) == (
        datetime(2024, 1, 1, 1),
        datetime(2024, 1, 1, 6),
    )
    assert replay_span(tmp_path, [eth]) is None
    # a rewritten file is read again (the span is cached per file version)
    _write(tmp_path, "binance_BTCUSDT_1h.csv", ["2024-01-01T01:00:00Z", "2024-01-03T00:00:00Z"])
    assert replay_span(tmp_path, [btc]) == (datetime(2024, 1, 1, 1), datetime(2024, 1, 3, 1))


def test_coverage_problems_charge_the_setting_that_is_wrong(tmp_path: Path) -> None:
    _write(tmp_path, "binance_BTCUSDT_1h.csv", ["2024-01-01T00:00:00Z"])
    _write(tmp_path, "binance_BTCUSDT_1d.csv", ["2024-01-01T00:00:00Z"])
    (tmp_path / "notes.txt").write_text("not candles")
    (tmp_path / "binance_XRPUSDTPERP_funding_8h.csv").write_text(HEADER)
    assert coverage_problems(tmp_path, ["binance"], ["BTC/USDT"], ["1h", "1d"]) == []
    problems = coverage_problems(
        tmp_path, ["binance", "kraken"], ["BTC/USDT", "SOL/USDT"], ["1h", "5m"]
    )
    has = f"{tmp_path} has: binance BTC/USDT [1h, 1d]"
    assert problems == [
        ("market.timeframes", f"no replay file of binance BTC/USDT 5m; {has}"),
        ("market.symbols", f"no replay file of binance SOL/USDT; {has}"),
        ("market.exchanges", f"no replay file of exchange 'kraken'; {has}"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert coverage_problems(empty, ["binance"], ["BTC/USDT"], ["1h"]) == [
        ("market.exchanges", f"no replay file of exchange 'binance'; {empty} has: no candle files")
    ]
