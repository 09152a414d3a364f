"""``rows_pass`` (the row checks of a resumed slice without the suite) is never more lenient
than the Great Expectations suite: True implies every row check of the suite passes, on real
candles and on every hostile frame tried; it says False on each corruption the suite fails."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from trading_core.market.ohlcv_resume import RESUME_CHECKS, read_resumable
from trading_core.market.replay import ReplayMarket
from trading_core.quality.ohlcv import (
    OHLCV_CHECKS,
    PartitionInput,
    helper_columns,
    validate_ohlcv_partitions,
)
from trading_core.quality.ohlcv_slice import rows_pass
from trading_core.quality.ohlcv_specs import GAP_CHECKS, SOURCE_CHECKS
from trading_core.warehouse import ensure_schema

BOUND = 0.25
ROW_CHECKS = [n for n in OHLCV_CHECKS if n not in GAP_CHECKS and n not in SOURCE_CHECKS]


@pytest.fixture(scope="module")
def day(shared_data: Path) -> pd.DataFrame:
    """A real day of hourly ETH candles, as the replay source gives them."""
    replay = ReplayMarket(shared_data / "market")
    frame = replay.fetch_ohlcv(
        "binance", "ETH/USDT", "1h", datetime(2022, 3, 1), datetime(2022, 3, 2)
    )
    assert len(frame) == 24
    return frame


def passes(frame: pd.DataFrame) -> bool:
    return rows_pass(frame, helper_columns(frame), BOUND)


def suite_row_checks(frames: dict[str, pd.DataFrame]) -> dict[str, bool]:
    """Per frame: the suite passed every row check (one suite run for all of them; each
    frame its own symbol, as a run's partitions are distinct series or days)."""

    def own(frame: pd.DataFrame, key: str) -> pd.DataFrame:
        if "symbol" not in frame.columns:
            return frame
        symbols = frame["symbol"].astype(object)
        return frame.assign(symbol=symbols.map(lambda v: f"{v}#{key}" if isinstance(v, str) else v))

    outcomes = validate_ohlcv_partitions(
        [PartitionInput(key, own(frame, key)) for key, frame in frames.items()], BOUND
    )
    return {
        key: all(o.passed for o in found if o.name in ROW_CHECKS) for key, found in outcomes.items()
    }


def _set(row: int, column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        text = column in ("exchange", "symbol", "timeframe")
        if (text and not isinstance(value, str)) or (not text and isinstance(value, str)):
            out[column] = out[column].astype(object)  # a value of another type in the column
        out.loc[row, column] = value
        return out

    return edit


def _shift(row: int, seconds: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda f: f.assign(
        ts=f["ts"].where(f.index != row, f["ts"] + pd.Timedelta(seconds, "s"))
    )


def _times_ten(row: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda f: f.assign(
        **{c: f[c].where(f.index != row, f[c] * 10) for c in ("high", "close")}
    )


CORRUPTIONS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "missing close": _set(3, "close", np.nan),
    "high below close": _set(4, "high", 1.0),
    "low above open": _set(5, "low", 1e9),
    "zero price": _set(6, "open", 0.0),
    "negative volume": _set(7, "volume", -1.0),
    "infinite volume": _set(8, "volume", np.inf),
    "text price": _set(9, "close", "1,234.5"),
    "misaligned": lambda f: f.assign(
        ts=f["ts"].where(f.index != 2, f["ts"] + pd.Timedelta(1, "s"))
    ),
    "duplicate": lambda f: pd.concat([f, f.iloc[[10]]], ignore_index=True),
    "out of order": lambda f: f.iloc[[*range(11), 12, 11, *range(13, len(f))]].reset_index(
        drop=True
    ),
    "10x close": lambda f: _set(12, "high", f["close"][12] * 10)(
        _set(12, "close", f["close"][12] * 10)(f)
    ),
    "text timestamp": lambda f: f.assign(ts=f["ts"].astype(str)),
    "aware timestamp": lambda f: f.assign(ts=f["ts"].dt.tz_localize("UTC")),
    "number as symbol": _set(1, "symbol", 42),
    "missing column": lambda f: f.drop(columns="volume"),
    "unknown timeframe": lambda f: f.assign(timeframe="7m"),
}


def test_real_candles_pass_both_ways(day: pd.DataFrame) -> None:
    assert passes(day)
    assert suite_row_checks({"real": day}) == {"real": True}


def test_every_corruption_the_suite_fails_is_refused(day: pd.DataFrame) -> None:
    frames = {name: corrupt(day) for name, corrupt in CORRUPTIONS.items()}
    refused = {name for name, frame in frames.items() if not passes(frame)}
    assert refused == set(CORRUPTIONS)  # each one sends the slice to the suite
    judged = suite_row_checks({k: f for k, f in frames.items() if k != "missing column"})
    lenient = [name for name, ok in judged.items() if ok]
    # where the suite is more lenient (an infinite volume is >= 0), rows_pass is stricter:
    # the slice then goes to the suite, which decides
    assert set(lenient) <= {"infinite volume", "unknown timeframe"}
    assert not judged["10x close"] and not judged["duplicate"] and not judged["misaligned"]


def test_random_hostile_slices_never_pass_where_the_suite_fails(day: pd.DataFrame) -> None:
    rng = np.random.default_rng(11)
    frames = {}
    for i in range(40):
        frame = day.copy()
        for _ in range(int(rng.integers(0, 3))):
            row = int(rng.integers(len(frame)))
            column = str(rng.choice(["open", "high", "low", "close", "volume"]))
            frame.loc[row, column] = float(
                rng.choice([0.0, -1.0, np.nan, frame.loc[row, column] * rng.uniform(0.7, 1.3)])
            )
        if rng.random() < 0.2:
            frame = frame.sample(frac=1.0, random_state=i).reset_index(drop=True)
        frames[f"f{i}"] = frame
    judged = suite_row_checks(frames)
    for key, frame in frames.items():
        if passes(frame):
            assert judged[key], key
    assert any(passes(f) for f in frames.values())
    assert not all(passes(f) for f in frames.values())


def test_only_partitions_whose_recorded_checks_passed_resume() -> None:
    conn = duckdb.connect()
    ensure_schema(conn)
    rows = []
    for key, failed in [
        ("clean", None),
        ("gappy", "ohlcv_missing_candles"),  # the gap checks are the whole window's
        ("blocked_gap", "ohlcv_gap_limit"),
        ("spike", "ohlcv_spike_hold"),
        ("duplicate", "ohlcv_unique_ts"),
        ("partial", "absent"),  # a check never recorded
    ]:
        for name in OHLCV_CHECKS:
            if failed == "absent" and name == RESUME_CHECKS[-1]:
                continue
            rows.append(("raw/ohlcv", key, name, name != failed, "WARN", 0, datetime(2026, 1, 1)))
    at = datetime(2026, 1, 1)
    # another asset's rows of the same partition key say nothing about raw/ohlcv
    rows += [
        ("raw/order_book_snapshots", "books_only", n, True, "ERROR", 0, at) for n in OHLCV_CHECKS
    ]
    conn.executemany("insert into raw.partition_checks values (?, ?, ?, ?, ?, ?, ?)", rows)
    keys = ["clean", "gappy", "blocked_gap", "spike", "duplicate", "partial", "books_only"]
    assert read_resumable(conn, keys) == {"clean", "gappy", "blocked_gap"}
    assert read_resumable(conn, []) == set()
