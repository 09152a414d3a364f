"""raw/ohlcv: idempotent partitions, closed candles only, quarantine and blocking checks."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from assets.ingest.prices import build_ohlcv_asset
from tests.assets.conftest import market_resource, run, table
from trading_core.config import MarketConfig
from trading_core.quality import OHLCV_CHECKS
from trading_core.timeframes import utc_now
from trading_pipelines.partitions import market_partitions


def sim_asset(**overrides):
    market = market_resource(**overrides)
    return build_ohlcv_asset(market_partitions(market.market_config())), market


def test_a_partition_is_replaced_not_appended(trading_home, warehouse) -> None:
    asset, market = sim_asset(symbols=["BTC/USDT", "ETH/USDT"], timeframes=["1h"])
    day = (utc_now() - timedelta(days=3)).date().isoformat()
    resources = {"market": market, "warehouse": warehouse}
    first = run(asset, resources, [f"{day}|BTC-USDT", f"{day}|ETH-USDT"])
    assert first.success
    rows = table(trading_home / "warehouse.duckdb", "select * from raw.ohlcv order by symbol, ts")
    assert len(rows) == 48  # two symbols x 24 closed hourly candles
    again = run(asset, resources, [f"{day}|BTC-USDT"])
    assert again.success
    rerun = table(trading_home / "warehouse.duckdb", "select * from raw.ohlcv order by symbol, ts")
    assert len(rerun) == 48
    pd.testing.assert_frame_equal(
        rows.drop(columns="ingested_at"), rerun.drop(columns="ingested_at")
    )


def test_today_holds_only_closed_candles_and_reports_the_newest(trading_home, warehouse) -> None:
    asset, market = sim_asset(symbols=["BTC/USDT"], timeframes=["1m"])
    today = utc_now().date().isoformat()
    result = run(asset, {"market": market, "warehouse": warehouse}, [f"{today}|BTC-USDT"])
    assert result.success
    newest = table(trading_home / "warehouse.duckdb", "select max(ts) as t from raw.ohlcv")["t"][0]
    assert newest + pd.Timedelta(minutes=1) <= pd.Timestamp(utc_now())
    [event] = result.get_asset_materialization_events()
    latest = event.materialization.metadata["latest_bars"].value
    assert latest == {"sim|BTC/USDT|1m": newest.isoformat()}


def test_every_check_reports_and_passes_on_clean_data(trading_home, warehouse) -> None:
    asset, market = sim_asset(symbols=["BTC/USDT"], timeframes=["1h"])
    day = (utc_now() - timedelta(days=2)).date().isoformat()
    result = run(asset, {"market": market, "warehouse": warehouse}, [f"{day}|BTC-USDT"])
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == set(OHLCV_CHECKS)
    assert all(e.passed for e in evaluations.values())
    checks = table(trading_home / "warehouse.duckdb", "select * from raw.partition_checks")
    assert set(checks["check_name"]) == set(OHLCV_CHECKS)
    assert (checks["partition_key"] == f"{day}|BTC-USDT").all()


def write_replay(folder, frame: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "binance_BTCUSDT_1h.csv", index=False)


def test_bad_candles_are_quarantined_and_block_the_partition(
    trading_home, warehouse, shared_data
) -> None:
    real = pd.read_csv(shared_data / "market" / "binance_BTCUSDT_1h.csv")
    day = real[real["timestamp"].str.startswith("2023-06-01")].copy()
    day.loc[day.index[5], "high"] = day.loc[day.index[5], "low"] / 2  # high < low
    day.loc[day.index[7], "volume"] = -1.0
    day = pd.concat([day, day.iloc[[3]]])  # a duplicate candle
    write_replay(trading_home / "replay", day)
    market = market_resource(
        source="replay", exchanges=["binance"], symbols=["BTC/USDT"], timeframes=["1h"],
        replay_dir=str(trading_home / "replay"), start_date=date(2023, 1, 1),
    )  # fmt: skip
    asset = build_ohlcv_asset(market_partitions(market.market_config()))
    result = run(asset, {"market": market, "warehouse": warehouse}, ["2023-06-01|BTC-USDT"])
    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert {"ohlcv_unique_ts", "ohlcv_high_ge_open_close", "ohlcv_nonnegative_volume"} <= failed
    wh = trading_home / "warehouse.duckdb"
    quarantine = table(wh, "select reason from raw.ohlcv_quarantine")
    stored = table(wh, "select count(*) as n from raw.ohlcv")["n"][0]
    assert stored + len(quarantine) == len(day)  # nothing lost
    assert quarantine["reason"].str.contains("duplicate_ts").any()
    assert quarantine["reason"].str.contains("negative_volume").any()
    blocked = table(
        wh, "select * from raw.partition_checks where not passed and severity = 'ERROR'"
    )
    assert set(blocked["partition_key"]) == {"2023-06-01|BTC-USDT"}


def test_config_errors_name_the_field(warehouse) -> None:
    with pytest.raises(Exception, match="source"):
        MarketConfig.model_validate({"source": "kraken"})


def replay_market(home, **overrides):
    return market_resource(
        source="replay", exchanges=["binance"], symbols=["BTC/USDT"], timeframes=["1h"],
        replay_dir=str(home / "replay"), start_date=date(2023, 1, 1), **overrides,
    )  # fmt: skip


def june_first(shared_data) -> pd.DataFrame:
    real = pd.read_csv(shared_data / "market" / "binance_BTCUSDT_1h.csv")
    return real[real["timestamp"].str.startswith("2023-06-01")].reset_index(drop=True)


def test_rematerializing_a_past_day_picks_up_a_correction(
    trading_home, warehouse, shared_data
) -> None:
    day = june_first(shared_data)
    write_replay(trading_home / "replay", day)
    market = replay_market(trading_home)
    asset = build_ohlcv_asset(market_partitions(market.market_config()))
    resources = {"market": market, "warehouse": warehouse}
    assert run(asset, resources, ["2023-06-01|BTC-USDT"]).success
    corrected = day.copy()
    corrected.loc[2, "volume"] = 12_345.0  # the source corrects an early candle
    write_replay(trading_home / "replay", corrected)
    assert run(asset, resources, ["2023-06-01|BTC-USDT"]).success
    stored = table(
        trading_home / "warehouse.duckdb",
        "select volume from raw.ohlcv where ts = '2023-06-01 02:00:00'",
    )
    assert stored["volume"].tolist() == [12_345.0]


def test_quarantined_rows_of_the_open_day_survive_incremental_runs(
    trading_home, warehouse, shared_data
) -> None:
    day = june_first(shared_data)
    day.loc[3, "volume"] = -1.0  # bad at 03:00
    write_replay(trading_home / "replay", day)
    wh = trading_home / "warehouse.duckdb"
    for hour in (12, 13, 14):  # the market clock moves on; the day is still in progress
        market = replay_market(trading_home, as_of=datetime(2023, 6, 1, hour))
        asset = build_ohlcv_asset(market_partitions(market.market_config()))
        run(asset, {"market": market, "warehouse": warehouse}, ["2023-06-01|BTC-USDT"])
        quarantined = table(wh, "select ts, reason from raw.ohlcv_quarantine")
        assert quarantined["ts"].tolist() == [pd.Timestamp("2023-06-01 03:00")], hour
        stored = table(wh, "select count(*) as n from raw.ohlcv")["n"][0]
        assert stored + len(quarantined) == hour  # every closed candle: stored or quarantined
