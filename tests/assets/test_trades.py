"""raw/trades: real Dagster runs over the sim, replay (the shared recorded tape and a hostile
copy of it) and ccxt backends; every fetched trade ends up in raw.trades or, with its reason,
in raw.trades_quarantine."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from assets.ingest.trades import TRADES_KEY, build_trades_asset
from tests.assets.conftest import market_resource, run, table
from tests.conftest import SHARED_DATA
from tests.fakes.binance_server import FakeBinance, make_ccxt_client
from trading_core.market.ccxt_source import CcxtMarket
from trading_core.market.sim import SimMarket
from trading_pipelines.partitions import market_partitions
from trading_pipelines.resources.market import MarketDataResource

ROWS = "select * exclude (ingested_at) from raw.trades order by all"
QUARANTINE = "select * exclude (ingested_at) from raw.trades_quarantine order by all"
CHECKS = (
    "select partition_key, check_name, passed, severity, failing_count from raw.partition_checks "
    "where asset_key = 'raw/trades' order by all"
)
TAPE = SHARED_DATA / "orderbooks" / "binance_XRPETH_trades_20191011.csv"


def materialize(home: Path, market: MarketDataResource, keys: list[str]):
    asset = build_trades_asset(market_partitions(market.market_config()))
    warehouse = DuckDBResource(database=str(home / "warehouse.duckdb"))
    return run(asset, {"market": market, "warehouse": warehouse}, keys)


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    event = result.get_asset_materialization_events()[0]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_sim_tape_lands_whole_up_to_now_and_reruns_identically(trading_home) -> None:
    now = datetime(2026, 11, 30, 6, 30)
    market = market_resource(symbols=["BTC/USDT"], timeframes=["1h"], as_of=now.isoformat())
    keys = ["2026-11-29|BTC-USDT", "2026-11-30|BTC-USDT"]
    first = materialize(trading_home, market, keys)
    assert first.success
    path = trading_home / "warehouse.duckdb"
    rows = table(path, ROWS)
    day = datetime(2026, 11, 29)
    tape = SimMarket(seed=7).fetch_trades("sim", "BTC/USDT", day, day + timedelta(days=2), now)
    assert len(rows) == len(tape) == metadata(first)["trades"]
    assert rows["ts"].max() < pd.Timestamp(now)
    assert set(rows["trade_id"]) == set(tape["trade_id"])
    assert (rows["source"] == "sim").all()
    assert all(c.passed for c in first.get_asset_check_evaluations())
    recorded = table(path, CHECKS)
    assert len(recorded) == 2 * 6 and recorded["passed"].all()
    again = materialize(trading_home, market, keys)
    assert again.success
    pd.testing.assert_frame_equal(table(path, ROWS), rows)


def test_the_shared_recorded_tape_replays_every_line(trading_home) -> None:
    market = market_resource(
        source="replay",
        replay_dir=str(SHARED_DATA / "market"),
        exchanges=["binance"],
        symbols=["XRP/ETH"],
        start_date="2019-10-10",
        as_of="2019-10-14T00:00:00",
    )
    keys = [f"2019-10-{d}|XRP-ETH" for d in (11, 12, 13)]
    result = materialize(trading_home, market, keys)
    assert result.success
    lines = pd.read_csv(TAPE)
    rows = table(trading_home / "warehouse.duckdb", ROWS)
    assert len(rows) + metadata(result)["quarantined_rows"] == len(lines)
    assert len(rows) == len(lines)  # the recorded tape is clean
    assert sorted(rows["trade_id"].astype(int)) == sorted(lines["trade_id"])
    assert set(rows["side"]) == {"buy", "sell"}


def _hostile_tape(directory: Path) -> dict[str, str]:
    """A copy of two days of the recorded tape with hostile lines in the first day; returns
    the trade id -> reason expected in quarantine (the copy of an id appears twice)."""
    lines = TAPE.read_text().splitlines()
    header, body = lines[0], lines[1:]
    first_day = [line for line in body if line.startswith("2019-10-11")][:300]
    second_day = [line for line in body if line.startswith("2019-10-12")][:300]
    real_id, real = first_day[10].split(",")[1], first_day[10].split(",")
    conflicting = ",".join([real[0], real[1], real[2], str(float(real[3]) * 2), *real[4:]])
    hostile = [
        "2019-10-11T05:00:00.000Z,90000001,buy,nan,5,0",
        "2019-10-11T05:00:01.000Z,90000002,sell,0.0014,-3,0",
        "2019-10-11T05:00:02.000Z,90000003,hold,0.0014,3,0",
        "2019-10-11T05:00:03.000Z,90000004,buy,0.0014,inf,0",
        "2019-10-11T05:00:04.000Z,90000005,buy,-0.0014,1,0",
        "not-a-time,90000006,buy,0.0014,1,0",
        "2019-10-11T05:00:05.000Z,,buy,0.0014,1,0",
        conflicting,
        first_day[20],  # an identical copy: kept once, the other copy quarantined
    ]
    directory.mkdir(parents=True)
    (directory / TAPE.name).write_text(
        "\n".join([header, *first_day[:150], *hostile, *first_day[150:], *second_day]) + "\n"
    )
    return {
        "90000001": "missing_value",
        "90000002": "non_positive_amount",
        "90000003": "unknown_side",
        "90000004": "non_positive_amount",
        "90000005": "non_positive_price",
        "90000006": "missing_value",
        real_id: "conflicting_duplicate",
        first_day[20].split(",")[1]: "duplicate_record",
    }


def test_hostile_trades_are_quarantined_with_their_reason(trading_home, tmp_path) -> None:
    expected = _hostile_tape(tmp_path / "orderbooks")
    (tmp_path / "market").mkdir()
    market = market_resource(
        source="replay",
        replay_dir=str(tmp_path / "market"),
        exchanges=["binance"],
        symbols=["XRP/ETH"],
        start_date="2019-10-10",
        as_of="2019-10-14T00:00:00",
    )
    keys = ["2019-10-11|XRP-ETH", "2019-10-12|XRP-ETH"]
    result = materialize(trading_home, market, keys)
    assert result.success  # the clean day is materialized; the hostile one is blocked
    path = trading_home / "warehouse.duckdb"
    bad = table(path, QUARANTINE)
    assert bad[bad["trade_id"].isna()]["reason"].tolist() == ["missing_value"]  # no id
    found = bad.dropna(subset=["trade_id"]).groupby("trade_id")["reason"].agg(set).to_dict()
    assert found == {trade: {reason} for trade, reason in expected.items()}
    assert len(bad[bad["reason"] == "conflicting_duplicate"]) == 2  # both versions
    assert (bad["partition_key"] == keys[0]).all()
    rows = table(path, ROWS)
    assert len(rows) + len(bad) == 600 + 9  # every line is somewhere
    kept = set(rows["trade_id"])
    copied = next(t for t, r in expected.items() if r == "duplicate_record")
    assert copied in kept and not (set(expected) - {copied}) & kept  # one copy stays
    assert rows["trade_id"].is_unique
    evaluations = checks(result)
    for name in ("trades_unique_ids", "trades_valid_values", "trades_known_side"):
        assert not evaluations[name].passed
        assert evaluations[name].severity == dg.AssetCheckSeverity.WARN  # one day is clean
        assert evaluations[name].metadata["blocked_partitions"].value == [keys[0]]
    assert evaluations["trades_valid_values"].metadata["failing_count"].value == 6
    assert not evaluations["trades_no_copies"].passed
    recorded = table(path, CHECKS)
    assert recorded[recorded["partition_key"] == keys[1]]["passed"].all()


@pytest.fixture
def fake() -> FakeBinance:
    with FakeBinance() as exchange:
        yield exchange


def test_the_ccxt_tape_comes_through_the_real_client(trading_home, fake, monkeypatch) -> None:
    day = datetime(2026, 11, 29)
    now = day + timedelta(hours=3, minutes=30)
    tape = SimMarket(seed=3).fetch_trades("sim", "XRP/USDT", day, now, now)
    fake.add_trades("XRPUSDT", tape.rename(columns={"ts": "timestamp"}))
    fake.set_time(now)
    source = CcxtMarket(clients={"binance": make_ccxt_client(fake.url)})
    monkeypatch.setattr(MarketDataResource, "client", lambda self: source)
    market = market_resource(
        source="ccxt", exchanges=["binance"], symbols=["XRP/USDT"], as_of=now.isoformat()
    )
    result = materialize(trading_home, market, ["2026-11-29|XRP-USDT"])
    assert result.success
    rows = table(trading_home / "warehouse.duckdb", ROWS)
    assert rows["price"].tolist() == tape.sort_values(["ts", "trade_id"])["price"].tolist()
    assert (rows["source"] == "ccxt").all() and len(rows) == len(tape)
    assert fake.count_requests("GET", "/api/v3/aggTrades") == 4  # one per hour until now
    assert TRADES_KEY in {c.asset_key for c in result.get_asset_check_evaluations()}
