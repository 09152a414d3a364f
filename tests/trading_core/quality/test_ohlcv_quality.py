"""Candle quality: the real files pass, and every corruption is caught by the check naming it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.market.replay import ReplayMarket
from trading_core.market.sim import SimMarket
from trading_core.quality import (
    OHLCV_CHECKS,
    CheckOutcome,
    quarantine_ohlcv,
    validate_ohlcv,
)

ALL = (datetime(2000, 1, 1), datetime(2100, 1, 1))
WARNINGS = (
    "ohlcv_missing_candles",
    "ohlcv_outlier_returns",
    "ohlcv_readable_lines",
    "ohlcv_spike_hold",
)
STRUCTURAL = [name for name in OHLCV_CHECKS if name not in ("ohlcv_gap_limit", *WARNINGS)]


@pytest.fixture(scope="module")
def replay(shared_data: Path) -> ReplayMarket:
    return ReplayMarket(shared_data / "market")


@pytest.fixture(scope="module")
def three_days(replay: ReplayMarket) -> pd.DataFrame:
    """72 real hourly candles without gaps."""
    return replay.fetch_ohlcv(
        "binance", "BTC/USDT", "1h", datetime(2022, 1, 1), datetime(2022, 1, 4)
    )


def _by_name(outcomes: list[CheckOutcome]) -> dict[str, CheckOutcome]:
    return {o.name: o for o in outcomes}


def _failed(outcomes: list[CheckOutcome]) -> set[str]:
    return {o.name for o in outcomes if not o.passed}


def test_one_outcome_per_check_with_stable_names(three_days: pd.DataFrame) -> None:
    outcomes = validate_ohlcv(three_days, "1h")
    assert [o.name for o in outcomes] == list(OHLCV_CHECKS)
    assert [o.name for o in outcomes] == [
        "ohlcv_schema",
        "ohlcv_unique_ts",
        "ohlcv_increasing_ts",
        "ohlcv_aligned_ts",
        "ohlcv_high_ge_open_close",
        "ohlcv_low_le_open_close",
        "ohlcv_positive_prices",
        "ohlcv_nonnegative_volume",
        "ohlcv_gap_limit",
        "ohlcv_missing_candles",
        "ohlcv_outlier_returns",
        "ohlcv_readable_lines",
        "ohlcv_spike_hold",
    ]
    assert all(o.passed for o in outcomes)
    assert {o.name for o in outcomes if o.severity == "warn"} == set(WARNINGS)
    assert {name for name, severity in OHLCV_CHECKS.items() if severity == "warn"} == set(WARNINGS)
    assert {o.severity for o in outcomes if o.name not in WARNINGS} == {"error"}


@pytest.mark.parametrize(
    ("symbol", "timeframe", "gaps", "missing"),
    [
        ("XRP/USDT", "1h", 25, 88),
        ("ADA/USDT", "1h", 25, 88),
        ("BTC/USDT", "1h", 5, 12),
        ("ETH/USDT", "1h", 5, 12),
        ("XRP/USDT", "1d", 0, 0),
        ("BTC/USDT", "1d", 0, 0),
        ("ETH/USDT", "1d", 0, 0),
    ],
)
def test_real_files_pass_and_warn_of_every_gap(
    replay: ReplayMarket, symbol: str, timeframe: str, gaps: int, missing: int
) -> None:
    frame = replay.fetch_ohlcv("binance", symbol, timeframe, *ALL)
    outcomes = _by_name(validate_ohlcv(frame, timeframe))
    assert all(outcomes[name].passed for name in [*STRUCTURAL, "ohlcv_gap_limit"])
    warned = outcomes["ohlcv_missing_candles"]
    assert warned.passed == (missing == 0) and warned.severity == "warn"
    assert warned.failing_count == missing and len(warned.examples) == gaps
    assert sum(g["missing"] for g in warned.examples) == missing
    assert warned.observed == pytest.approx(missing / (len(frame) + missing))
    assert f"{missing} of {len(frame) + missing} expected candles missing" in warned.description


def test_the_real_4h_outage_of_february_2018_blocks_its_day(replay: ReplayMarket) -> None:
    """Binance stopped for about 30 hours on 2018-02-08/09: 5 of that day's 6 4h candles."""
    frame = replay.fetch_ohlcv("binance", "BTC/USDT", "4h", *ALL)
    limit = _by_name(validate_ohlcv(frame, "4h"))["ohlcv_gap_limit"]
    assert not limit.passed
    assert [(b["rule"], b["at"], b["missing"], b["of"]) for b in limit.examples] == [
        ("max_gap_ratio", "2018-02-08", 5, 6)
    ]


def test_a_partition_window_counts_the_missing_edges(three_days: pd.DataFrame) -> None:
    first_day = three_days.iloc[2:20]  # 00:00-01:00 and 20:00-23:00 missing
    window = (datetime(2022, 1, 1), datetime(2022, 1, 2))
    outcomes = _by_name(validate_ohlcv(first_day, "1h", window=window))
    warned = outcomes["ohlcv_missing_candles"]
    assert not warned.passed and warned.failing_count == 6
    assert warned.observed == pytest.approx(6 / 24)
    assert [(g["start"], g["missing"]) for g in warned.examples] == [
        ("2022-01-01T00:00:00", 2),
        ("2022-01-01T20:00:00", 4),
    ]
    assert outcomes["ohlcv_gap_limit"].passed  # 6 of 24, the longest 4: within the limits
    # A partition still in progress expects only the candles closed so far.
    now = datetime(2022, 1, 1, 20, 0)
    in_progress = _by_name(validate_ohlcv(three_days.iloc[:20], "1h", window=window, now=now))
    assert in_progress["ohlcv_missing_candles"].passed
    empty = _by_name(validate_ohlcv(three_days.iloc[:0], "1h", window=window))
    assert not empty["ohlcv_gap_limit"].passed and all(empty[n].passed for n in STRUCTURAL)
    assert "no candle at all" in empty["ohlcv_gap_limit"].description
    not_yet = validate_ohlcv(three_days.iloc[:0], "1h", window=window, now=window[0])
    assert not _failed(not_yet)  # nothing has closed yet: nothing is missing


def _duplicate(f: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([f, f.iloc[[5]]], ignore_index=True)


def _high_below_low(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[10, "high"] = f.loc[10, "low"] - 1
    return f


def _low_above_close(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[11, "low"] = f.loc[11, ["open", "close"]].max() + 1
    f.loc[11, "high"] = f.loc[11, "low"] + 1
    return f


def _negative_volume(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[20, "volume"] = -3.0
    return f


def _shuffled(f: pd.DataFrame) -> pd.DataFrame:
    return f.sample(frac=1, random_state=3).reset_index(drop=True)


def _misaligned(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[40, "ts"] += pd.Timedelta(minutes=7)
    return f


def _zero_price(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[30, ["open", "high", "low", "close"]] = [0.0, 0.0, 0.0, 0.0]
    return f


def _missing_value(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[50, "close"] = np.nan
    return f


def _wrong_types(f: pd.DataFrame) -> pd.DataFrame:
    f["ts"] = f["ts"].dt.tz_localize("UTC")
    f["volume"] = f["volume"].round().astype("int64")
    return f


def _big_jump(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[60, ["high", "close"]] = f.loc[60, "open"] * 1.5
    return f


def _wrong_timeframe(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[0, "timeframe"] = "4h"
    return f


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (_duplicate, {"ohlcv_unique_ts", "ohlcv_increasing_ts"}),
        (_high_below_low, {"ohlcv_high_ge_open_close"}),
        (_low_above_close, {"ohlcv_low_le_open_close"}),
        (_negative_volume, {"ohlcv_nonnegative_volume"}),
        (_shuffled, {"ohlcv_increasing_ts"}),
        (_misaligned, {"ohlcv_aligned_ts", "ohlcv_missing_candles"}),
        (_zero_price, {"ohlcv_positive_prices"}),
        (_missing_value, {"ohlcv_schema"}),
        (_wrong_types, {"ohlcv_schema"}),
        (_big_jump, {"ohlcv_outlier_returns"}),
        (_wrong_timeframe, {"ohlcv_schema"}),
    ],
)
def test_each_corruption_is_caught_by_the_check_that_names_it(
    three_days: pd.DataFrame, corrupt: Callable[[pd.DataFrame], pd.DataFrame], expected: set[str]
) -> None:
    outcomes = validate_ohlcv(corrupt(three_days.copy()), "1h")
    assert _failed(outcomes) == expected
    for outcome in outcomes:
        if not outcome.passed:
            assert outcome.failing_count > 0 and 0 < len(outcome.examples) <= 5


def test_failing_examples_name_the_bad_rows(three_days: pd.DataFrame) -> None:
    outcomes = _by_name(validate_ohlcv(_high_below_low(three_days.copy()), "1h"))
    (example,) = outcomes["ohlcv_high_ge_open_close"].examples
    assert example["row"] == 10 and example["ts"] == "2022-01-01T10:00:00"
    assert example["high"] < example["low"]
    jump = _by_name(validate_ohlcv(_big_jump(three_days.copy()), "1h"))["ohlcv_outlier_returns"]
    assert jump.severity == "warn" and jump.observed == pytest.approx(np.log(1.5), rel=0.1)


def test_missing_columns_fail_the_schema_and_nothing_else_runs(three_days: pd.DataFrame) -> None:
    outcomes = validate_ohlcv(three_days.drop(columns=["volume"]), "1h")
    assert all(not o.passed for o in outcomes)
    assert "missing columns ['volume']" in outcomes[0].description
    assert "not evaluated" in outcomes[1].description


def test_series_are_checked_apart(replay: ReplayMarket) -> None:
    """The same candle times on two exchanges or symbols are not duplicates or disorder."""
    a = replay.fetch_ohlcv("binance", "BTC/USDT", "1h", datetime(2022, 1, 1), datetime(2022, 1, 2))
    b = replay.fetch_ohlcv("binance", "ETH/USDT", "1h", datetime(2022, 1, 1), datetime(2022, 1, 2))
    c = a.assign(exchange="kraken")
    assert not _failed(validate_ohlcv(pd.concat([a, b, c], ignore_index=True), "1h"))


def test_a_sim_partition_of_three_symbols_passes() -> None:
    sim = SimMarket()
    day = (datetime(2025, 1, 1), datetime(2025, 1, 2))
    frame = pd.concat(
        [
            sim.fetch_ohlcv("sim", s, "1m", *day, now=datetime(2026, 1, 1))
            for s in ("BTC/USDT", "ETH/USDT", "SOL/USDT")
        ],
        ignore_index=True,
    )
    assert not _failed(validate_ohlcv(frame, "1m", window=day))


def test_quarantine_keeps_every_bad_row_with_its_reason(three_days: pd.DataFrame) -> None:
    frame = three_days.copy()
    for corrupt in (_high_below_low, _negative_volume, _misaligned, _zero_price, _missing_value):
        frame = corrupt(frame)
    frame = _duplicate(frame)
    clean, quarantined = quarantine_ohlcv(frame)
    assert len(clean) + len(quarantined) == len(frame)
    reasons = dict(zip(quarantined["ts"].astype(str), quarantined["reason"], strict=True))
    assert reasons == {
        "2022-01-01 05:00:00": "duplicate_ts",
        "2022-01-01 10:00:00": "high_low_inconsistent",
        "2022-01-01 20:00:00": "negative_volume",
        "2022-01-02 06:00:00": "non_positive_price",
        "2022-01-02 16:07:00": "misaligned_ts",
        "2022-01-03 02:00:00": "missing_value",
    }
    # Once sorted (the writer's job) the clean part passes every check but the missing candles
    # warning (the quarantined rows are missing); the later duplicate (a correction) stayed.
    stored = clean.sort_values("ts", kind="stable")
    assert _failed(validate_ohlcv(stored, "1h")) == {"ohlcv_missing_candles"}
    assert (clean["ts"] == pd.Timestamp("2022-01-01 05:00")).sum() == 1


def test_quarantine_keeps_outliers_and_order_and_names_several_reasons(
    three_days: pd.DataFrame,
) -> None:
    shuffled = _big_jump(three_days.copy()).sample(frac=1, random_state=1).reset_index(drop=True)
    clean, quarantined = quarantine_ohlcv(shuffled)
    assert quarantined.empty
    pd.testing.assert_frame_equal(clean, shuffled)
    bad = three_days.copy()
    bad.loc[3, ["low", "volume"]] = [-1.0, -1.0]
    _, quarantined = quarantine_ohlcv(bad)
    assert quarantined["reason"].tolist() == ["non_positive_price;negative_volume"]
    with pytest.raises(ValueError, match=r"\['volume'\]"):
        quarantine_ohlcv(three_days.drop(columns=["volume"]))


def test_one_suite_for_many_partitions_gives_each_partition_its_own_outcomes(
    shared_data,
) -> None:
    from trading_core.market.replay import ReplayMarket
    from trading_core.quality.ohlcv import PartitionInput, validate_ohlcv_partitions

    source = ReplayMarket(shared_data / "market")
    parts = []
    for day in range(1, 6):
        start = datetime(2022, 3, day)
        window = (start, start + pd.Timedelta(days=1))
        frame = source.fetch_ohlcv("binance", "BTC/USDT", "1h", *window)
        if day == 2:
            frame.loc[4, "high"] = frame.loc[4, "low"] - 1
        if day == 3:
            frame = pd.concat([frame, frame.iloc[[7]]], ignore_index=True)
        if day == 4:
            frame.loc[3, "volume"] = -1.0
        if day == 5:
            frame["ts"] = frame["ts"].astype(object)  # a schema fault of one partition
        parts.append(PartitionInput(f"d{day}", frame, window=window))
    together = validate_ohlcv_partitions(parts)
    for part in parts:
        alone = validate_ohlcv(part.frame, None, window=part.window)
        assert together[part.key] == alone, part.key
    assert _failed(together["d1"]) == set()
    assert "ohlcv_high_ge_open_close" in _failed(together["d2"])
    assert (
        together["d2"][list(OHLCV_CHECKS).index("ohlcv_high_ge_open_close")].examples[0]["row"] == 4
    )
