"""The gap policy: what a gap is, where it is, and which gaps block (boundaries included)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.quality.gap_policy import (
    DEFAULT_MAX_GAP_CANDLES,
    DEFAULT_MAX_GAP_RATIO,
    GapPolicy,
    GapReport,
    assess_frame,
    assess_series,
    candles_per_day,
)

D = datetime(2024, 3, 10)
DAY = (D, D + timedelta(days=1))
AFTER = D + timedelta(days=3)  # a clock long after the day: every candle of it has closed
POLICY = GapPolicy()
H = timedelta(hours=1)


def hours(*missing: int, first: int = 0, last: int = 24) -> list[datetime]:
    """Open times of D + h for h in [first, last) except ``missing`` (hours may be < 0 or
    >= 24: the days around D)."""
    return [D + h * H for h in range(first, last) if h not in missing]


def hourly(present: list[datetime], policy: GapPolicy = POLICY, **kwargs) -> GapReport:
    return assess_series("binance|BTC/USDT|1h", "1h", present, policy, **kwargs)


def positions(report: GapReport) -> list[tuple[str, int, int]]:
    return [(g.start.isoformat(), g.missing, g.in_window) for g in report.gaps]


def rules(report: GapReport) -> list[str]:
    return [b.rule for b in report.breaches]


def test_the_defaults_are_the_documented_ones() -> None:
    assert (POLICY.max_gap_candles, POLICY.max_gap_ratio) == (12, 0.5)
    assert (DEFAULT_MAX_GAP_CANDLES, DEFAULT_MAX_GAP_RATIO) == (12, 0.5)
    assert POLICY.reach("1h") == 13 * H
    assert [candles_per_day(tf) for tf in ("1m", "1h", "4h", "1d")] == [1440, 24, 6, 1]


def test_a_clean_day_has_no_gap() -> None:
    report = hourly(hours(), window=DAY, now=AFTER)
    assert (report.gaps, report.expected, report.missing, report.blocks) == ((), 24, 0, False)


def test_a_run_exactly_at_the_limit_warns_one_more_blocks() -> None:
    policy = GapPolicy(max_gap_candles=6)
    at = hourly(hours(*range(3, 9)), policy, window=DAY, now=AFTER)
    assert positions(at) == [("2024-03-10T03:00:00", 6, 6)] and not at.blocks
    over = hourly(hours(*range(3, 10)), policy, window=DAY, now=AFTER)
    assert rules(over) == ["max_gap_candles"]
    assert str(over.breaches[0]) == (
        "binance|BTC/USDT|1h: 7 consecutive candles missing from 2024-03-10T03:00:00 "
        "(max_gap_candles 6)"
    )


def test_half_a_day_missing_is_allowed_more_blocks_even_in_short_runs() -> None:
    at = hourly(hours(*range(0, 24, 2)), window=DAY, now=AFTER)  # 12 isolated candles
    assert (at.missing, at.longest, at.worst_day_share, at.blocks) == (12, 1, 0.5, False)
    pairs = [0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18]  # 13 missing, no run over 2
    over = hourly(hours(*pairs), window=DAY, now=AFTER)
    assert (over.missing, over.longest, rules(over)) == (13, 2, ["max_gap_ratio"])
    assert "13 of 24 candles of 2024-03-10 missing (share 0.542 > max_gap_ratio 0.5)" in str(
        over.breaches[0]
    )


def test_twelve_in_a_row_is_at_both_limits_thirteen_breaks_both() -> None:
    assert not hourly(hours(*range(5, 17)), window=DAY, now=AFTER).blocks
    over = hourly(hours(*range(5, 18)), window=DAY, now=AFTER)
    assert rules(over) == ["max_gap_candles", "max_gap_ratio"]


def test_a_gap_at_the_day_start_is_measured_back_into_the_day_before() -> None:
    alone = hourly(hours(0, 1, 2), window=DAY, now=AFTER)
    assert positions(alone) == [("2024-03-10T00:00:00", 3, 3)]
    searched = (D - POLICY.reach("1h"), DAY[1])
    previous_ok = hourly(hours(0, 1, 2, first=-13), window=DAY, now=AFTER, searched=searched)
    assert positions(previous_ok) == [("2024-03-10T00:00:00", 3, 3)]
    night = hours(-3, -2, -1, 0, 1, 2, first=-13)  # 21:00 the day before .. 02:00
    crossing = hourly(night, window=DAY, now=AFTER, searched=searched)
    assert positions(crossing) == [("2024-03-09T21:00:00", 6, 3)]
    assert (crossing.missing, crossing.expected) == (3, 24)  # the day counts its own candles
    assert not crossing.gaps[0].open_ended
    # nothing at all in the day before (a series' first day, or a long outage): the run is
    # at least as long as what was looked up, and that decides it
    first_day = hourly(hours(0, 1, 2), window=DAY, now=AFTER, searched=searched)
    assert positions(first_day) == [("2024-03-09T11:00:00", 16, 3)]
    assert first_day.gaps[0].open_ended and rules(first_day) == ["max_gap_candles"]
    assert "at least 16 consecutive candles missing from 2024-03-09T11:00:00" in str(
        first_day.breaches[0]
    )


def test_a_gap_at_the_day_end_counts_only_closed_candles() -> None:
    evening = hours(21, 22, 23)
    assert positions(hourly(evening, window=DAY, now=AFTER)) == [("2024-03-10T21:00:00", 3, 3)]
    # at 22:30 the 22:00 candle is still open: only 21:00 is missing so far
    running = hourly(evening, window=DAY, now=D + timedelta(hours=22, minutes=30))
    assert positions(running) == [("2024-03-10T21:00:00", 1, 1)] and running.expected == 22


def test_a_gap_across_midnight_is_one_gap_seen_from_both_days() -> None:
    missing = range(17, 31)  # 17:00 .. 06:00 the next day: 14 candles, 7 in each day
    present = hours(*missing, first=-13, last=48)
    blind = hourly(hours(*missing), window=DAY, now=AFTER)  # without the next day's candles
    assert positions(blind) == [("2024-03-10T17:00:00", 7, 7)] and not blind.blocks
    reach = POLICY.reach("1h")
    first = hourly(present, window=DAY, now=AFTER, searched=(D - reach, DAY[1] + reach))
    next_day = (DAY[1], DAY[1] + timedelta(days=1))
    second = hourly(present, window=next_day, now=AFTER, searched=(DAY[1] - reach, AFTER))
    for report in (first, second):
        assert positions(report)[0][:2] == ("2024-03-10T17:00:00", 14)
        assert report.missing == 7 and rules(report) == ["max_gap_candles"]
    assert str(first.breaches[0]) == str(second.breaches[0])


def test_a_day_in_progress_is_not_blocked_by_one_late_candle() -> None:
    report = hourly([], window=DAY, now=D + timedelta(hours=1, minutes=5))
    assert positions(report) == [("2024-03-10T00:00:00", 1, 1)]
    assert report.worst_day_share == pytest.approx(1 / 24) and not report.blocks
    assert hourly([], window=DAY, now=D + timedelta(minutes=30)) == GapReport()


def test_a_daily_series_misses_its_whole_day_or_nothing() -> None:
    days = [D + timedelta(days=k) for k in range(-13, 14)]
    searched = (D - POLICY.reach("1d"), D + POLICY.reach("1d"))

    def daily(present: list[datetime], policy: GapPolicy = POLICY, **kwargs) -> GapReport:
        return assess_series("binance|BTC/USDT|1d", "1d", present, policy, **kwargs)

    assert daily(days, window=DAY, now=AFTER, searched=searched).gaps == ()
    hole = [d for d in days if d != D]
    missed = daily(hole, window=DAY, now=AFTER, searched=searched)
    assert positions(missed) == [("2024-03-10T00:00:00", 1, 1)] and missed.expected == 1
    assert rules(missed) == ["max_gap_ratio"] and missed.worst_day_share == 1.0
    assert not daily(hole, GapPolicy(max_gap_ratio=1.0), window=DAY, now=AFTER).blocks
    assert daily(hole, window=DAY, now=D + timedelta(hours=23)) == GapReport()  # not closed


def test_malformed_present_times_are_ignored_not_trusted() -> None:
    present = pd.Series(
        [D + 5 * H, "garbage", None, D + 3 * H, D + 3 * H, D + 4 * H + timedelta(minutes=7)]
        + [D + h * H for h in range(24) if h not in (3, 4, 5, 6)],
        dtype=object,
    )
    report = hourly(present, window=DAY, now=AFTER)
    assert positions(report) == [("2024-03-10T04:00:00", 1, 1), ("2024-03-10T06:00:00", 1, 1)]
    aware = pd.Series(pd.DatetimeIndex(hours(7)).tz_localize("UTC").tz_convert("Asia/Tokyo"))
    assert positions(hourly(aware, window=DAY, now=AFTER)) == [("2024-03-10T07:00:00", 1, 1)]
    with pytest.raises(ValueError, match="timeframe"):
        assess_series("x", "7h", hours(), POLICY)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_gap_candles": -1}, "max_gap_candles"),
        ({"max_gap_candles": 2.5}, "max_gap_candles"),
        ({"max_gap_candles": True}, "max_gap_candles"),
        ({"max_gap_ratio": 1.5}, "max_gap_ratio"),
        ({"max_gap_ratio": -0.1}, "max_gap_ratio"),
        ({"max_gap_ratio": float("nan")}, "max_gap_ratio"),
    ],
)
def test_a_bad_policy_names_its_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        GapPolicy(**kwargs)


def test_a_frame_is_judged_series_by_series() -> None:
    def rows(symbol: str, timeframe: str, present: list[datetime]) -> pd.DataFrame:
        return pd.DataFrame(
            {"exchange": "binance", "symbol": symbol, "timeframe": timeframe, "ts": present}
        )

    frame = pd.concat(
        [
            rows("BTC/USDT", "1h", hours()),
            rows("ETH/USDT", "1h", hours(*range(2, 16))),
            rows("ETH/USDT", "7h", hours()),  # unknown timeframe: the schema check's business
        ]
    )
    keys = ["exchange", "symbol", "timeframe"]
    report = assess_frame(frame, POLICY, keys, window=DAY, now=AFTER)
    assert [g.series for g in report.gaps] == ["binance|ETH/USDT|1h"]
    assert (report.expected, report.missing, report.blocks) == (48, 14, True)
    assert {b.series for b in report.breaches} == {"binance|ETH/USDT|1h"}
    assert assess_frame(frame.iloc[:0], POLICY, keys, window=DAY, now=AFTER).blocks


def test_a_month_long_outage_of_minute_candles_is_one_gap() -> None:
    start = datetime(2024, 1, 1)
    minutes = pd.date_range(start, periods=60 * 24 * 40, freq="min")
    present = minutes[(minutes < start + timedelta(days=5)) | (minutes >= start + timedelta(35))]
    report = assess_series("sim|BTC/USDT|1m", "1m", present, POLICY)
    assert positions(report) == [("2024-01-06T00:00:00", 43_200, 43_200)]
    assert report.worst_day_share == 1.0 and len(report.breaches) == 1 + 30


# -- the real history of ../shared/data/market ---------------------------------------------


def real_gaps(path: Path) -> list[tuple[pd.Timestamp, int]]:
    """(first missing open time, candles) of every gap, computed apart from the policy."""
    ts = pd.to_datetime(pd.read_csv(path)["timestamp"], utc=True).dt.tz_convert(None)
    step = ts.diff()
    jumps = step > pd.Timedelta(hours=1)
    return [
        (t - s + pd.Timedelta(hours=1), int(s / pd.Timedelta(hours=1)) - 1)
        for t, s in zip(ts[jumps], step[jumps], strict=True)
    ]


@pytest.fixture(scope="module")
def xrp_1h(shared_data: Path) -> tuple[pd.Series, list[tuple[pd.Timestamp, int]]]:
    path = shared_data / "market" / "binance_XRPUSDT_1h.csv"
    ts = pd.to_datetime(pd.read_csv(path)["timestamp"], utc=True).dt.tz_convert(None)
    return ts, real_gaps(path)


def test_every_real_gap_day_of_xrpusdt_warns_at_its_exact_position(xrp_1h) -> None:
    ts, gaps = xrp_1h
    assert (len(gaps), sum(n for _, n in gaps)) == (25, 88)
    for start, missing in gaps:
        day = start.floor("D").to_pydatetime()
        window = (day, day + timedelta(days=1))
        reach = POLICY.reach("1h")
        report = assess_series(
            "binance|XRP/USDT|1h", "1h", ts, POLICY,
            window=window, now=AFTER, searched=(day - reach, window[1] + reach),
        )  # fmt: skip
        found = [(g.start, g.missing) for g in report.gaps]
        assert (start.to_pydatetime(), missing) in found, day
        assert not report.blocks, [str(b) for b in report.breaches]


def test_the_limits_suggested_first_would_block_real_days(xrp_1h) -> None:
    """Why the defaults are 12 and 0.5: 6 candles or a quarter of a day block real history."""
    ts, _ = xrp_1h
    strict = assess_series("binance|XRP/USDT|1h", "1h", ts, GapPolicy(6, 0.25))
    blocked_days = {b.at[:10] for b in strict.breaches}
    assert {"2018-06-26", "2019-05-15"} <= blocked_days
    assert not assess_series("binance|XRP/USDT|1h", "1h", ts, POLICY).blocks
    assert np.isclose(assess_series("x", "1h", ts, POLICY).worst_day_share, 10 / 24)
