"""raw/ohlcv: the day in progress resumes after its stored head, validates and writes only the
new slice, and ends up exactly as one whole-day run (rows, quarantine, recorded checks, check
descriptions and metadata, held bars), including when a gap, a spike, a duplicate or a bad
row arrives in a later step."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from assets.ingest.prices import build_ohlcv_asset
from tests.assets.conftest import market_resource, run, table
from trading_pipelines.partitions import market_partitions

ROWS = "select * exclude (ingested_at) from raw.ohlcv order by all"
QUARANTINE = "select * exclude (ingested_at) from raw.ohlcv_quarantine order by all"
CHECKS = (
    "select partition_key, check_name, passed, severity, failing_count "
    "from raw.partition_checks order by all"
)
# what differs by design between a resumed run and a whole-day one: how much was fetched
# and written, and how many partitions resumed
STAMPS = "select symbol, timeframe, ts, ingested_at from raw.ohlcv"
RUN_COUNTERS = {"candles_fetched", "rows_written", "resumed_partitions"}


def ingest(home: Path, keys: list[str], **market) -> dg.ExecuteInProcessResult:
    resource = market_resource(**market)
    asset = build_ohlcv_asset(market_partitions(resource.market_config()))
    warehouse = DuckDBResource(database=str(home / "warehouse.duckdb"))
    result = run(asset, {"market": resource, "warehouse": warehouse}, keys)
    assert result.success
    return result


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    event = result.get_asset_materialization_events()[0]  # one per partition, same metadata
    return {k: v.value for k, v in event.materialization.metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, tuple]:
    return {
        ev.check_name: (ev.passed, ev.severity, ev.description, ev.metadata)
        for ev in result.get_asset_check_evaluations()
    }


def snapshot(home: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    path = home / "warehouse.duckdb"
    return table(path, ROWS), table(path, QUARANTINE), table(path, CHECKS)


def assert_same_as_whole(
    home: Path, resumed: dg.ExecuteInProcessResult, whole_home: Path, keys, **market
) -> None:
    """A whole-day run of the same partitions at the same instant in a fresh warehouse
    gives the same rows, quarantine, recorded checks, check results and metadata."""
    whole_home.mkdir()
    whole = ingest(whole_home, keys, **market)
    assert metadata(whole)["resumed_partitions"] == 0
    for mine, theirs in zip(snapshot(home), snapshot(whole_home), strict=True):
        pd.testing.assert_frame_equal(mine, theirs)
    assert checks(resumed) == checks(whole)
    ours, theirs = metadata(resumed), metadata(whole)
    for name in set(ours) | set(theirs):
        if name not in RUN_COUNTERS:
            assert ours[name] == theirs[name], name


DAY = datetime(2026, 11, 30)
SIM_SYMBOLS = ["BTC/USDT", "ETH/USDT"]
SIM_KEYS = [f"{DAY.date()}|{s.replace('/', '-')}" for s in SIM_SYMBOLS]


def sim_at(home: Path, at: datetime) -> dg.ExecuteInProcessResult:
    return ingest(home, SIM_KEYS, **sim_market(at))


def sim_market(at: datetime) -> dict:
    return {"symbols": SIM_SYMBOLS, "timeframes": ["1m", "1h"], "as_of": at.isoformat()}


def test_sim_resumed_in_small_steps_equals_one_whole_day_run(trading_home, tmp_path) -> None:
    start = DAY + timedelta(hours=3, minutes=58, seconds=5)
    first = sim_at(trading_home, start)
    assert metadata(first)["resumed_partitions"] == 0  # nothing stored: the whole day
    stored = table(trading_home / "warehouse.duckdb", STAMPS)
    at = start
    for minutes in (0, 1, 1, 2, 3, 5):  # a run without a new bar, then 1, 2, ... new ones
        at += timedelta(minutes=minutes)
        later = sim_at(trading_home, at)
        meta = metadata(later)
        assert meta["resumed_partitions"] == 2
        # only the slice is written: the refetched candles and the new ones, per series
        assert meta["rows_written"] < meta["rows"] / 10
    # the crossing of 04:00 closed a 1h bar in a resumed step; the head's 1m rows kept their
    # first ingest (the 1h series' three refetched candles are all it has: its slice)
    kept = table(trading_home / "warehouse.duckdb", STAMPS)
    minutes = stored[stored["timeframe"] == "1m"]
    first_minutes = minutes[minutes["ts"] < DAY + timedelta(hours=3, minutes=50)]
    same = first_minutes.merge(kept, on=["symbol", "timeframe", "ts", "ingested_at"])
    assert len(same) == len(first_minutes) > 0
    assert_same_as_whole(trading_home, later, tmp_path / "whole", SIM_KEYS, **sim_market(at))


def test_a_past_day_is_never_resumed(trading_home) -> None:
    sim_at(trading_home, DAY + timedelta(hours=23, minutes=59, seconds=30))
    past = sim_at(trading_home, DAY + timedelta(days=1, minutes=5))
    assert metadata(past)["resumed_partitions"] == 0


# real candles (../shared/data/market), one anomaly per symbol, each in a later step
REAL_DAY = "2023-06-01"
REAL = {"BTC": "gap", "ETH": "spike", "XRP": "duplicate", "ADA": "bad row"}
AT_HOUR = {"gap": 8, "spike": 12, "duplicate": 15, "bad row": 19}
REAL_KEYS = [f"{REAL_DAY}|{base}-USDT" for base in REAL]


def write_real_day(shared_data: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for base, anomaly in REAL.items():
        name = f"binance_{base}USDT_1h.csv"
        real = pd.read_csv(shared_data / "market" / name)
        day = real[real["timestamp"].str.startswith(REAL_DAY)].reset_index(drop=True)
        assert len(day) == 24, name
        i = AT_HOUR[anomaly]
        if anomaly == "gap":
            day = day.drop(index=[i, i + 1])  # two candles missing: a WARN, not blocked
        elif anomaly == "spike":
            day.loc[i, ["high", "close"]] = day.loc[i, "close"] * 10
        elif anomaly == "duplicate":
            day = pd.concat([day.iloc[: i + 1], day.iloc[[i]], day.iloc[i + 1 :]])
        else:
            day.loc[i, "low"] = day.loc[i, "high"] * 2  # low above high
        day.to_csv(folder / name, index=False)


def real_market(folder: Path, at: datetime) -> dict:
    return {
        "source": "replay", "exchanges": ["binance"], "timeframes": ["1h"],
        "symbols": [f"{base}/USDT" for base in REAL], "replay_dir": str(folder),
        "start_date": date(2023, 1, 1), "as_of": at.isoformat(),
    }  # fmt: skip


def test_real_candles_resumed_hour_by_hour_equal_whole_day_runs_through_every_anomaly(
    trading_home, tmp_path, shared_data
) -> None:
    folder = tmp_path / "replay"
    write_real_day(shared_data, folder)
    day = datetime.fromisoformat(REAL_DAY)
    resumable = set(REAL)
    compared = 0
    for hour in range(4, 24):
        at = day + timedelta(hours=hour, seconds=30)
        result = ingest(trading_home, REAL_KEYS, **real_market(folder, at))
        # an anomaly whose candle just closed makes its partition validate whole; a spike,
        # a duplicate or a bad row fail a check, so it never resumes again that day; a gap
        # is the whole window's, it resumes
        arrived = {base for base, a in REAL.items() if AT_HOUR[a] == hour - 1}
        failing = {base for base in arrived if REAL[base] != "gap"}
        expected = len(resumable - failing) if hour > 4 else 0
        assert metadata(result)["resumed_partitions"] == expected, at
        resumable -= failing
        if arrived or hour in (4 + 1, 23):
            # the anomaly is in the comparison's runs, and in their descriptions
            compared += 1
            whole_home = tmp_path / f"whole_{hour}"
            assert_same_as_whole(
                trading_home, result, whole_home, REAL_KEYS, **real_market(folder, at)
            )
    assert compared == 6 and resumable == {"BTC"}
    final = checks(result)
    assert not final["ohlcv_missing_candles"][0] and "2023-06-01T08:00:00" in str(
        final["ohlcv_missing_candles"][2]
    )
    held = metadata(result)["held_bars"]
    assert [bar["series"] for bar in held] == ["binance|ETH/USDT|1h"]
    assert held[0]["ts"] == "2023-06-01T12:00:00"
    quarantine = snapshot(trading_home)[1]
    reasons = " ".join(quarantine["reason"])
    assert "duplicate_ts" in reasons and "high_low_inconsistent" in reasons
    assert "spike_held" in reasons


def write_two_venues(shared_data: Path, folder: Path, okx_missing: list[int]) -> None:
    """BTC 1h of REAL_DAY on binance, and on okx 0.1 % higher without ``okx_missing`` hours."""
    folder.mkdir(parents=True, exist_ok=True)
    real = pd.read_csv(shared_data / "market" / "binance_BTCUSDT_1h.csv")
    day = real[real["timestamp"].str.startswith(REAL_DAY)].reset_index(drop=True)
    day.to_csv(folder / "binance_BTCUSDT_1h.csv", index=False)
    other = day.drop(index=okx_missing)
    for column in ("open", "high", "low", "close"):
        other[column] = other[column] * 1.001
    other.to_csv(folder / "okx_BTCUSDT_1h.csv", index=False)


def venues_market(folder: Path, at: datetime, timeframes=("1h",)) -> dict:
    return {
        **real_market(folder, at), "exchanges": ["binance", "okx"], "symbols": ["BTC/USDT"],
        "timeframes": list(timeframes),
    }  # fmt: skip


# okx without 03:00 and 04:00: at 06:00 its head ends at 02:00 (binance's at 05:00), out of
# step; at 07:00 both end at 05:00 again
@pytest.mark.parametrize(("okx_missing", "resumed"), [([], [0, 1, 1]), ([3, 4], [0, 0, 1])])
def test_two_venues_resume_only_in_step(
    trading_home, tmp_path, shared_data, okx_missing, resumed
) -> None:
    """A second venue's bar at a slice's open time must be in that venue's slice too: when
    the venues' stored heads end at different candles the day is validated whole."""
    folder = tmp_path / "replay"
    write_two_venues(shared_data, folder, okx_missing)
    day, keys = datetime.fromisoformat(REAL_DAY), [f"{REAL_DAY}|BTC-USDT"]
    for hour, expected in zip((5, 6, 7), resumed, strict=True):
        at = day + timedelta(hours=hour, seconds=30)
        result = ingest(trading_home, keys, **venues_market(folder, at))
        assert metadata(result)["resumed_partitions"] == expected, hour
    assert_same_as_whole(
        trading_home, result, tmp_path / "whole", keys, **venues_market(folder, at)
    )


def test_a_series_no_longer_configured_makes_the_day_whole(
    trading_home, tmp_path, shared_data
) -> None:
    folder = tmp_path / "replay"
    write_two_venues(shared_data, folder, [])
    day, keys = datetime.fromisoformat(REAL_DAY), [f"{REAL_DAY}|BTC-USDT"]
    ingest(trading_home, keys, **venues_market(folder, day + timedelta(hours=9, seconds=30)))
    at = day + timedelta(hours=10, seconds=30)
    market = {**venues_market(folder, at), "exchanges": ["binance"]}  # okx dropped
    result = ingest(trading_home, keys, **market)
    assert metadata(result)["resumed_partitions"] == 0
    assert set(snapshot(trading_home)[0]["exchange"]) == {"binance"}  # as a whole-day run
    assert_same_as_whole(trading_home, result, tmp_path / "whole", keys, **market)
