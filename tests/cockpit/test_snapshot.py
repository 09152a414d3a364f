"""cockpit/warehouse_snapshot: a real Dagster run copies the recent signals into the
cockpit's snapshot atomically; the signals page reads that copy, never the live file."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from assets.cockpit_snapshot import SNAPSHOT_KEY, build_cockpit_snapshot_asset
from tests.cockpit.conftest import make_client
from tests.cockpit.signal_data import BARS, build_warehouse
from trading_pipelines.cockpit.snapshot import BARS_PER_MARKET, snapshot_path, write_snapshot


@pytest.fixture
def warehouse(trading_home: Path, shared_data: Path) -> Path:
    path = trading_home / "warehouse.duckdb"
    build_warehouse(path, shared_data / "market")
    return path


def materialize(warehouse: Path, target: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_cockpit_snapshot_asset(target)],
        resources={"warehouse": DuckDBResource(database=str(warehouse))},
    )


def test_the_asset_copies_the_recent_bars_of_every_market(
    trading_home: Path, warehouse: Path
) -> None:
    target = snapshot_path(trading_home)
    result = materialize(warehouse, target)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key == SNAPSHOT_KEY
    meta = event.materialization.metadata
    assert meta["markets"].value == 2 and meta["rows"].value == 2 * min(BARS, BARS_PER_MARKET)
    with duckdb.connect(str(target), read_only=True) as conn:
        newest = conn.execute(
            "select symbol, max(ts), count(*) from signals group by 1 order by 1"
        ).fetchall()
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        expected = conn.execute(
            "select symbol, max(ts), least(count(*), ?) from signals.fct_signals "
            "group by 1 order by 1",
            [BARS_PER_MARKET],
        ).fetchall()
    assert newest == expected
    assert not list(target.parent.glob(".*.tmp"))


def test_a_failed_copy_leaves_the_previous_snapshot_whole(
    trading_home: Path, warehouse: Path
) -> None:
    target = snapshot_path(trading_home)
    assert materialize(warehouse, target).success
    before = target.read_bytes()
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("drop table signals.fct_signals")
        with pytest.raises(duckdb.CatalogException):
            write_snapshot(conn, target)
    assert target.read_bytes() == before
    assert not list(target.parent.glob(".*.tmp"))


def test_the_signals_page_and_api_read_the_snapshot_never_the_warehouse(
    trading_home: Path, warehouse: Path
) -> None:
    with make_client() as c:
        assert "No warehouse snapshot yet" in c.get("/signals").text
        assert materialize(warehouse, snapshot_path(trading_home)).success
        body = c.get("/api/v1/signals", params={"history": 2}).json()
        # While the cockpit serves, a writer can still take the live warehouse.
        with duckdb.connect(str(warehouse)) as conn:
            conn.execute("create table signals.writer_was_here as select 1 as x")
        page = c.get("/signals")
    assert body["available"] is True and body["taken_at"]
    assert [m["symbol"] for m in body["markets"]] == ["BTC/USDT", "ETH/USDT"]
    btc = body["markets"][0]
    assert btc["regime"] in ("trend_up", "trend_down") and "sma_50" in btc["reasons"]
    assert len(btc["history"]) == 2 and btc["history"][0]["ts"] < btc["ts"]
    assert page.status_code == 200 and btc["regime"] in page.text and "sma_50" in page.text
    assert "snapshot taken" in page.text


def test_the_signals_page_without_a_warehouse_says_so(trading_home: Path) -> None:
    with make_client() as c:
        response = c.get("/signals")
    assert response.status_code == 200 and "No warehouse snapshot yet" in response.text
    assert not (trading_home / "warehouse.duckdb").exists()


def test_the_snapshot_asset_is_a_warehouse_writer(tmp_path: Path) -> None:
    asset = build_cockpit_snapshot_asset(tmp_path / "s.duckdb")
    spec = next(iter(asset.specs))
    assert asset.op.pool == "duckdb_warehouse" and spec.group_name == "cockpit"
    assert dg.AssetKey(["fct_signals"]) in {d.asset_key for d in spec.deps}
    assert spec.automation_condition is not None
