"""raw/ohlcv and the gap policy: real gaps warn with their position, long gaps block only their
partition, and every check description states the numbers of its metadata."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets.dbt_models import dbt_models
from assets.ingest.prices import build_ohlcv_asset
from tests.assets.conftest import market_resource, run, table
from trading_pipelines.dbt import dbt_resource
from trading_pipelines.partitions import market_partitions

SERIES = "binance|{}|1h"


def replay_asset(replay_dir: Path, symbol: str):
    market = market_resource(
        source="replay", exchanges=["binance"], symbols=[symbol], timeframes=["1h"],
        replay_dir=str(replay_dir), start_date=date(2018, 5, 5),
    )  # fmt: skip
    return build_ohlcv_asset(market_partitions(market.market_config())), market


def days(first: str, last: str, symbol: str) -> list[str]:
    pair = symbol.replace("/", "-")
    return [f"{d.date().isoformat()}|{pair}" for d in pd.date_range(first, last, freq="D")]


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def assert_description_states_the_metadata(evaluation: dg.AssetCheckEvaluation) -> None:
    """The numbers a reader sees in the description are those of the metadata."""
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    text = evaluation.description or ""
    failing = meta["failing_partitions"]
    if evaluation.passed:
        assert meta["failing_count"] == 0 and failing == []
        assert f"passed in {meta['partitions_checked']} of {meta['partitions_checked']}" in text
        return
    assert f"failed in {len(failing)} of {meta['partitions_checked']} partitions" in text
    assert f"failing count {meta['failing_count']}" in text
    for partition, detail in list(meta["partition_details"].items())[:3]:
        assert f"{partition}: {detail}" in text
    # each partition's detail counts its own share of the failing count
    counted = [int(m) for m in re.findall(r"(\d+) of \d+ expected candles missing", text)]
    if evaluation.check_name == "ohlcv_missing_candles" and len(failing) <= 3:
        assert sum(counted) == meta["failing_count"]


def real_gaps(path: Path) -> list[dict[str, object]]:
    """Every gap of a real hourly file, computed apart from the code under test."""
    ts = pd.to_datetime(pd.read_csv(path)["timestamp"], utc=True).dt.tz_convert(None)
    step = ts.diff()
    hour = pd.Timedelta(hours=1)
    return [
        {"start": t - s + hour, "end": t, "missing": int(s / hour) - 1}
        for t, s in zip(ts[step > hour], step[step > hour], strict=True)
    ]


@pytest.mark.parametrize(
    ("first", "last"), [("2018-06-25", "2018-06-28"), ("2021-04-19", "2021-04-26")]
)
def test_real_xrpusdt_gaps_warn_with_their_exact_position_and_nothing_fails(
    trading_home, warehouse, shared_data, first, last
) -> None:
    market_dir = shared_data / "market"
    asset, market = replay_asset(market_dir, "XRP/USDT")
    keys = days(first, last, "XRP/USDT")
    result = run(asset, {"market": market, "warehouse": warehouse}, keys)
    assert result.success
    window = (pd.Timestamp(first), pd.Timestamp(last) + pd.Timedelta(days=1))
    expected = [
        {
            "partition": f"{gap['start'].date().isoformat()}|XRP-USDT",
            "series": SERIES.format("XRP/USDT"),
            "start": gap["start"].isoformat(),
            "end": gap["end"].isoformat(),
            "missing": gap["missing"],
        }
        for gap in real_gaps(market_dir / "binance_XRPUSDT_1h.csv")
        if window[0] <= gap["start"] < window[1]
    ]
    assert len(expected) >= 2  # the ranges hold real gaps (2018-06-26 has the longest, 10)
    checks = evaluations(result)
    warned = checks["ohlcv_missing_candles"]
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.metadata["examples"].value == expected
    assert warned.metadata["failing_count"].value == sum(g["missing"] for g in expected)
    assert checks["ohlcv_gap_limit"].passed
    assert all(e.passed for name, e in checks.items() if name not in ("ohlcv_missing_candles",))
    for evaluation in checks.values():
        assert_description_states_the_metadata(evaluation)

    wh = trading_home / "warehouse.duckdb"
    stored = table(wh, "select count(*) as n from raw.ohlcv")["n"][0]
    assert stored == 24 * len(keys) - sum(g["missing"] for g in expected)  # every real candle
    recorded = table(
        wh, "select partition_key, check_name, severity, failing_count from raw.partition_checks "
        "where not passed order by partition_key",
    )  # fmt: skip
    assert set(recorded["check_name"]) == {"ohlcv_missing_candles"}
    assert set(recorded["severity"]) == {"WARN"}
    assert recorded["partition_key"].tolist() == sorted({g["partition"] for g in expected})
    events = result.get_asset_materialization_events()
    assert sorted(e.partition for e in events) == keys  # every partition materialized
    assert events[0].materialization.metadata["blocked_partitions"].value == []


def three_days_of_btc(shared_data: Path) -> pd.DataFrame:
    real = pd.read_csv(shared_data / "market" / "binance_BTCUSDT_1h.csv")
    ts = pd.to_datetime(real["timestamp"], utc=True).dt.tz_convert(None)
    keep = (ts >= pd.Timestamp("2023-06-01")) & (ts < pd.Timestamp("2023-06-04"))
    return real[keep].assign(ts=ts[keep]).reset_index(drop=True)


def write_without(folder: Path, frame: pd.DataFrame, first: str, last: str) -> None:
    """The replay file without the candles opening from ``first`` to ``last`` (inclusive)."""
    cut = (frame["ts"] >= pd.Timestamp(first)) & (frame["ts"] <= pd.Timestamp(last))
    folder.mkdir(parents=True, exist_ok=True)
    frame[~cut].drop(columns="ts").to_csv(folder / "binance_BTCUSDT_1h.csv", index=False)


@pytest.mark.parametrize(
    ("first", "last", "blocked"),
    [
        # 14 candles within one day: over max_gap_candles (12) and half of its 24 candles
        ("2023-06-02 02:00", "2023-06-02 15:00", ["2023-06-02|BTC-USDT"]),
        # 14 candles across midnight, 7 in each day: one gap too long, seen from both days
        ("2023-06-01 17:00", "2023-06-02 06:00", ["2023-06-01|BTC-USDT", "2023-06-02|BTC-USDT"]),
    ],
)
def test_a_long_gap_blocks_only_its_partitions_and_the_run_goes_on(
    trading_home, warehouse, shared_data, first, last, blocked
) -> None:
    btc = three_days_of_btc(shared_data)
    write_without(trading_home / "replay", btc, first, last)
    asset, market = replay_asset(trading_home / "replay", "BTC/USDT")
    keys = days("2023-06-01", "2023-06-03", "BTC/USDT")
    result = run(asset, {"market": market, "warehouse": warehouse}, keys)
    assert result.success  # the clean partition is not failed by the blocked ones

    checks = evaluations(result)
    limit = checks["ohlcv_gap_limit"]
    assert not limit.passed and limit.severity == dg.AssetCheckSeverity.WARN
    assert limit.metadata["failing_partitions"].value == blocked
    assert limit.metadata["blocked_partitions"].value == blocked
    assert "kept out of the signals" in (limit.description or "")
    [gap] = {e["start"] for e in checks["ohlcv_missing_candles"].metadata["examples"].value}
    assert gap == pd.Timestamp(first).isoformat()  # the whole run, from its first candle
    for evaluation in checks.values():
        assert_description_states_the_metadata(evaluation)

    wh = trading_home / "warehouse.duckdb"
    errors = table(
        wh, "select distinct partition_key from raw.partition_checks "
        "where not passed and severity = 'ERROR' order by 1",
    )  # fmt: skip
    assert errors["partition_key"].tolist() == blocked
    per_day = table(
        wh, "select strftime(ts, '%Y-%m-%d') as day, count(*) as n from raw.ohlcv group by 1"
    )
    removed = btc[(btc["ts"] >= pd.Timestamp(first)) & (btc["ts"] <= pd.Timestamp(last))]
    expected = (24 - removed.groupby(removed["ts"].dt.strftime("%Y-%m-%d")).size()).to_dict()
    assert dict(zip(per_day["day"], per_day["n"], strict=True)) == {
        "2023-06-01": expected.get("2023-06-01", 24),
        "2023-06-02": expected.get("2023-06-02", 24),
        "2023-06-03": 24,
    }
    events = result.get_asset_materialization_events()
    assert sorted(e.partition for e in events) == keys  # the run materialized them all
    metadata = events[0].materialization.metadata
    assert metadata["blocked_partitions"].value == blocked
    # the newest bar announced to the new-bar sensor comes from a partition that is not blocked
    assert metadata["latest_bars"].value == {SERIES.format("BTC/USDT"): "2023-06-03T23:00:00"}

    # the signals' staging model (real dbt) sees the clean partitions only
    staged = dg.materialize(
        [dbt_models], selection=["stg_ohlcv"], resources={"dbt": dbt_resource(trading_home)}
    )
    assert staged.success
    signal_days = table(wh, "select distinct strftime(ts, '%Y-%m-%d') as d from staging.stg_ohlcv")
    assert sorted(signal_days["d"]) == sorted(
        {"2023-06-01", "2023-06-02", "2023-06-03"} - {key.split("|")[0] for key in blocked}
    )


def test_a_run_whose_only_partition_is_blocked_fails_and_says_why(
    trading_home, warehouse, shared_data
) -> None:
    # seen alone, 2023-06-02 misses 7 candles; the day before shows the gap is 14 long
    write_without(trading_home / "replay", three_days_of_btc(shared_data), "2023-06-01 17:00",
                  "2023-06-02 06:00")  # fmt: skip
    asset, market = replay_asset(trading_home / "replay", "BTC/USDT")
    result = run(asset, {"market": market, "warehouse": warehouse}, ["2023-06-02|BTC-USDT"])
    assert not result.success  # nothing clean to protect: a blocking ERROR, as before
    limit = evaluations(result)["ohlcv_gap_limit"]
    assert not limit.passed and limit.severity == dg.AssetCheckSeverity.ERROR
    assert "14 consecutive candles missing from 2023-06-01T17:00:00 (max_gap_candles 12)" in (
        limit.description or ""
    )
    assert_description_states_the_metadata(limit)
    assert limit.metadata["failing_count"].value == 7  # the partition's own missing candles


def test_one_missing_candle_after_a_clean_day_is_a_warning_that_counts_it(
    trading_home, warehouse, shared_data
) -> None:
    """The case of the issue: one missing 1h candle failed its day, failed the run, and the
    description said "missing 0 of 24" (taken from the clean partition)."""
    write_without(trading_home / "replay", three_days_of_btc(shared_data), "2023-06-02 05:00",
                  "2023-06-02 05:00")  # fmt: skip
    asset, market = replay_asset(trading_home / "replay", "BTC/USDT")
    keys = days("2023-06-01", "2023-06-02", "BTC/USDT")
    result = run(asset, {"market": market, "warehouse": warehouse}, keys)
    assert result.success
    warned = evaluations(result)["ohlcv_missing_candles"]
    assert warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.metadata["failing_count"].value == 1
    assert warned.metadata["failing_partitions"].value == ["2023-06-02|BTC-USDT"]
    description = warned.description or ""
    assert "failed in 1 of 2 partitions, failing count 1" in description
    assert "2023-06-02|BTC-USDT: 1 of 24 expected candles missing in 1 gap " in description
    assert "binance|BTC/USDT|1h from 2023-06-02T05:00:00 (1 candle)" in description
    assert "missing 0 of" not in description
    for evaluation in evaluations(result).values():
        assert_description_states_the_metadata(evaluation)
