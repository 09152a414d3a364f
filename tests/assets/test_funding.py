"""raw/funding_rates and raw/open_interest: real Dagster runs over sim, replay (the shared
XRP perpetual funding file) and ccxt through the real client against the fake Binance
futures endpoints, with hostile records quarantined in raw.quarantine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from assets.ingest.funding import build_funding_assets
from tests.assets.conftest import market_resource, run, table
from tests.conftest import SHARED_DATA
from tests.fakes.binance_futures import add_funding_rates, add_open_interest, make_futures_client
from tests.fakes.binance_server import FakeBinance
from trading_core.market.base import MarketDataError
from trading_core.market.ccxt_source import CcxtMarket
from trading_core.market.sim import SimMarket
from trading_pipelines.partitions import market_partitions
from trading_pipelines.resources.market import MarketDataResource

FUNDING_FILE = SHARED_DATA / "market" / "binance_XRPUSDTPERP_funding_8h.csv"
FUNDING = "select * exclude (ingested_at) from raw.funding_rates order by all"
OPEN_INTEREST = "select * exclude (ingested_at) from raw.open_interest order by all"
QUARANTINE = "select asset_key, partition_key, reason, payload from raw.quarantine order by all"
KEYS = ["2021-11-18|XRP-USDT", "2021-11-19|XRP-USDT"]


def materialize(home: Path, market: MarketDataResource, keys: list[str]) -> list:
    warehouse = DuckDBResource(database=str(home / "warehouse.duckdb"))
    return [
        run(asset, {"market": market, "warehouse": warehouse}, keys)
        for asset in build_funding_assets(market_partitions(market.market_config()))
    ]


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def _ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def test_sim_funding_and_open_interest_are_seeded_and_window_independent() -> None:
    sim = SimMarket(seed=7)
    day = datetime(2026, 11, 1)
    now = datetime(2026, 12, 1)
    two_days = sim.fetch_funding_rates("sim", "BTC/USDT", day, day + timedelta(days=2), now)
    second = sim.fetch_funding_rates("sim", "BTC/USDT", day + timedelta(days=1),
                                     day + timedelta(days=2), now)  # fmt: skip
    assert len(two_days) == 6 and two_days["ts"].dt.hour.tolist() == [0, 8, 16] * 2
    pd.testing.assert_frame_equal(two_days.iloc[3:].reset_index(drop=True), second)
    assert (two_days["contract"] == "BTC/USDT:USDT").all()
    assert two_days["funding_rate"].abs().max() <= 0.0075
    other_seed = SimMarket(seed=8).fetch_funding_rates(
        "sim", "BTC/USDT", day, day + timedelta(days=2), now
    )
    assert not other_seed["funding_rate"].equals(two_days["funding_rate"])
    interest = sim.fetch_open_interest(
        "sim", "BTC/USDT", day, day + timedelta(days=1), day + timedelta(hours=5, minutes=1)
    )
    assert interest["ts"].dt.hour.tolist() == [0, 1, 2, 3, 4, 5]  # only what is known by now
    assert (interest["open_interest"] > 0).all() and (interest["open_interest_value"] > 0).all()


def test_sim_assets_materialize_and_rerun_identically(trading_home) -> None:
    market = market_resource(symbols=["ETH/USDT"], timeframes=["1h"],
                             as_of="2026-11-30T09:00:00")  # fmt: skip
    keys = ["2026-11-29|ETH-USDT", "2026-11-30|ETH-USDT"]
    results = materialize(trading_home, market, keys)
    assert all(r.success for r in results)
    path = trading_home / "warehouse.duckdb"
    funding, interest = table(path, FUNDING), table(path, OPEN_INTEREST)
    assert len(funding) == 3 + 2 and len(interest) == 24 + 9
    assert all(c.passed for r in results for c in r.get_asset_check_evaluations())
    materialize(trading_home, market, keys)
    pd.testing.assert_frame_equal(table(path, FUNDING), funding)
    pd.testing.assert_frame_equal(table(path, OPEN_INTEREST), interest)


def test_the_shared_funding_file_replays(trading_home) -> None:
    market = market_resource(
        source="replay", replay_dir=str(SHARED_DATA / "market"), exchanges=["binance"],
        symbols=["XRP/USDT"], timeframes=["5m"], start_date="2021-11-15",
        as_of="2021-11-20T00:00:00",
    )  # fmt: skip
    funding, interest = materialize(trading_home, market, KEYS)
    assert funding.success and interest.success
    rows = table(trading_home / "warehouse.duckdb", FUNDING)
    lines = pd.read_csv(FUNDING_FILE)
    on_days = lines[lines["timestamp"].str[:10].isin(["2021-11-18", "2021-11-19"])]
    assert rows["funding_rate"].tolist() == on_days["funding_rate"].tolist()
    assert (rows["contract"] == "XRP/USDT:USDT").all() and (rows["source"] == "replay").all()
    assert table(trading_home / "warehouse.duckdb", OPEN_INTEREST).empty  # no recorded file


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        exchange.set_time(datetime(2021, 12, 1))
        yield exchange


def _ccxt(fake: FakeBinance, monkeypatch) -> MarketDataResource:
    source = CcxtMarket(clients={"binance": make_futures_client(fake.url)})
    monkeypatch.setattr(MarketDataResource, "client", lambda self: source)
    return market_resource(
        source="ccxt", exchanges=["binance"], symbols=["XRP/USDT"], start_date="2021-11-15",
        as_of="2021-11-20T00:00:00",
    )  # fmt: skip


def test_ccxt_funding_and_open_interest_through_the_real_client(
    trading_home, fake, monkeypatch
) -> None:
    lines = pd.read_csv(FUNDING_FILE)
    times = pd.to_datetime(lines["timestamp"], utc=True).dt.tz_convert(None)
    add_funding_rates(fake, "XRPUSDT", [
        {"time": _ms(t.to_pydatetime()), "rate": r}
        for t, r in zip(times, lines["funding_rate"], strict=True)
    ])  # fmt: skip
    start = datetime(2021, 11, 18)
    add_open_interest(fake, "XRPUSDT", [
        {"time": _ms(start + timedelta(hours=h)), "amount": 1e8 + h, "value": 1.2e8 + h}
        for h in range(48)
    ])  # fmt: skip
    funding, interest = materialize(trading_home, _ccxt(fake, monkeypatch), KEYS)
    assert funding.success and interest.success
    path = trading_home / "warehouse.duckdb"
    rows = table(path, FUNDING)
    on_days = lines[lines["timestamp"].str[:10].isin(["2021-11-18", "2021-11-19"])]
    assert rows["funding_rate"].tolist() == on_days["funding_rate"].tolist()
    assert rows["ts"].tolist() == times[on_days.index].tolist()
    assert (rows["source"] == "ccxt").all()
    oi = table(path, OPEN_INTEREST)
    assert len(oi) == 48 and oi["open_interest"].iloc[-1] == 1e8 + 47
    assert fake.count_requests("GET", "/fapi/v1/fundingRate") == 2  # one per day
    assert fake.count_requests("GET", "/futures/data/openInterestHist") == 2
    assert table(path, QUARANTINE).empty


def test_hostile_perpetual_records_are_quarantined(trading_home, fake, monkeypatch) -> None:
    day = datetime(2021, 11, 18)
    add_funding_rates(fake, "XRPUSDT", [
        {"time": _ms(day), "rate": "nan"},
        {"time": _ms(day + timedelta(hours=8)), "rate": 0.5},  # implausible
        {"time": _ms(day + timedelta(hours=16)), "rate": 0.0001},  # two versions of 16:00
        {"time": _ms(day + timedelta(hours=16)), "rate": 0.0003},
        {"time": _ms(day + timedelta(days=1)), "rate": 0.0001},  # the clean day
    ])  # fmt: skip
    add_open_interest(fake, "XRPUSDT", [
        {"time": _ms(day), "amount": -5, "value": 10},
        {"time": _ms(day + timedelta(hours=1)), "amount": 5, "value": "inf"},
        {"time": _ms(day + timedelta(hours=2)), "amount": 5, "value": 6},
        {"time": _ms(day + timedelta(hours=2)), "amount": 5, "value": 6},  # a copy
        {"time": _ms(day + timedelta(days=1)), "amount": 7, "value": 8},
    ])  # fmt: skip
    funding, interest = materialize(trading_home, _ccxt(fake, monkeypatch), KEYS)
    assert funding.success and interest.success  # the clean day keeps the run green
    path = trading_home / "warehouse.duckdb"
    bad = table(path, QUARANTINE)
    assert (bad["partition_key"] == KEYS[0]).all()
    reasons = {
        (row.asset_key, json.loads(row.payload)["ts"], row.reason) for row in bad.itertuples()
    }
    assert reasons == {
        ("raw/funding_rates", "2021-11-18T00:00:00", "missing_value"),
        ("raw/funding_rates", "2021-11-18T08:00:00", "implausible_rate"),
        ("raw/funding_rates", "2021-11-18T16:00:00", "conflicting_duplicate"),
        ("raw/open_interest", "2021-11-18T00:00:00", "negative_open_interest"),
        ("raw/open_interest", "2021-11-18T01:00:00", "negative_open_interest_value"),
        ("raw/open_interest", "2021-11-18T02:00:00", "duplicate_record"),
    }
    assert len(bad) == 7  # both versions of 16:00
    assert table(path, FUNDING)["ts"].tolist() == [pd.Timestamp(day + timedelta(days=1))]
    assert len(table(path, OPEN_INTEREST)) == 2  # 02:00 once, and the clean day
    found = checks(funding)
    assert not found["funding_valid_values"].passed and not found["funding_unique"].passed
    assert found["funding_valid_values"].severity == dg.AssetCheckSeverity.WARN
    assert found["funding_valid_values"].metadata["blocked_partitions"].value == [KEYS[0]]
    assert not checks(interest)["open_interest_valid_values"].passed


def test_a_symbol_without_a_perpetual_fails_naming_it(trading_home, fake, monkeypatch) -> None:
    source = CcxtMarket(clients={"binance": make_futures_client(fake.url)})
    with pytest.raises(MarketDataError, match="XRP/ETH:ETH"):
        source.fetch_funding_rates("binance", "XRP/ETH", datetime(2021, 11, 18),
                                   datetime(2021, 11, 19))  # fmt: skip
