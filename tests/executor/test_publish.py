"""Publishing fills and orders: Parquet in the lake, REST reports to Dagster, the outbox."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from executor.ledger import Ledger
from executor.orders import OrderState
from executor.publish import FILLS_SCHEMA, ORDERS_SCHEMA, DagsterReporter, Publisher
from executor.records import Fill, NewOrder, OrderUpdate
from tests.executor.helpers import T0, Clock
from tests.fakes.http_json_server import FakeHTTPServer, Reply

FILL_COLUMNS = [
    "fill_id",
    "exchange",
    "trade_id",
    "client_order_id",
    "exchange_order_id",
    "intent_id",
    "strategy",
    "symbol",
    "side",
    "quantity",
    "price",
    "fee",
    "fee_currency",
    "liquidity",
    "event_time",
    "mode",
    "published_at",
    "batch_id",
    "fee_price",
    "fee_quote",
]
ORDER_COLUMNS = [
    "client_order_id",
    "exchange_order_id",
    "intent_id",
    "strategy",
    "exchange",
    "symbol",
    "side",
    "order_type",
    "quantity",
    "limit_price",
    "stop_price",
    "state",
    "filled_quantity",
    "average_price",
    "fee",
    "reason",
    "created_at",
    "updated_at",
    "mode",
    "published_at",
    "batch_id",
]


def test_the_schemas_follow_the_column_contract() -> None:
    assert FILLS_SCHEMA.names == FILL_COLUMNS
    assert ORDERS_SCHEMA.names == ORDER_COLUMNS
    assert FILLS_SCHEMA.field("event_time").type == pa.timestamp("us")  # naive UTC


def test_dagster_splits_the_url_path_into_the_asset_key() -> None:
    from dagster import AssetKey

    assert AssetKey.from_user_string("execution/fills").path == ["execution", "fills"]


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(days=1))


@pytest.fixture
def ledger(sqlite_url: str, clock: Clock) -> Ledger:
    led = Ledger(sqlite_url, clock=clock)
    yield led
    led.close()


def trade(ledger: Ledger, n: int, day_offset: int = 0) -> None:
    """One filled market order: two order events and one fill."""
    cid = f"tp-i{n}-e0"
    ledger.create_order(
        NewOrder(
            client_order_id=cid,
            exchange="sim",
            symbol="BTC/USDT",
            side="buy",
            order_type="market",
            role="entry",
            quantity=1.0,
            intent_id=f"i{n}",
            strategy="macd",
        )
    )
    at = T0 + timedelta(days=day_offset, minutes=n)
    ledger.apply_order_update(
        cid,
        OrderUpdate(
            OrderState.FILLED,
            exchange_order_id=f"x{n}",
            filled_quantity=1.0,
            average_price=100.0,
            fee=0.1,
            fee_currency="USDT",
        ),
        [Fill("sim", f"t{n}", "BTC/USDT", "buy", 1.0, 100.0, 0.1, "USDT", "taker", at)],
    )


def lake_rows(lake: Path, stream: str) -> list[dict]:
    files = sorted((lake / "execution" / stream).rglob("*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def test_batches_land_in_date_partitions_with_the_contract_columns(
    ledger: Ledger, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    trade(ledger, 1)
    trade(ledger, 2, day_offset=1)
    report = Publisher(ledger, lake, None).publish()
    # Fills happened on two days (two batches); both orders' events on the ledger's today.
    assert report.allocated == 3
    fills_dirs = sorted(p.name for p in (lake / "execution" / "fills").iterdir())
    assert fills_dirs == ["date=2025-03-03", "date=2025-03-04"]
    (first,) = (lake / "execution" / "fills" / "date=2025-03-03").glob("*.parquet")
    table = pq.read_table(first)
    assert table.schema.names == FILL_COLUMNS
    (row,) = table.to_pylist()
    assert row["fill_id"] == "sim:BTC/USDT:t1"
    assert (row["client_order_id"], row["intent_id"], row["mode"]) == ("tp-i1-e0", "i1", "paper")
    assert row["event_time"] == T0 + timedelta(minutes=1)
    assert row["batch_id"] == first.stem
    orders = lake_rows(lake, "orders")
    assert [r["state"] for r in orders if r["client_order_id"] == "tp-i1-e0"] == [
        "PENDING_SUBMIT",
        "FILLED",
    ]
    assert set(orders[0]) == set(ORDER_COLUMNS)
    assert not list(lake.rglob("*.tmp"))


def test_publishing_twice_publishes_nothing_new(ledger: Ledger, tmp_path: Path) -> None:
    trade(ledger, 1)
    publisher = Publisher(ledger, tmp_path, None)
    publisher.publish()
    assert publisher.publish().allocated == 0
    trade(ledger, 2)
    publisher.publish()
    assert [r["trade_id"] for r in lake_rows(tmp_path, "fills")] == ["t1", "t2"]


def test_a_crash_before_the_file_is_written_rewrites_the_same_batch(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trade(ledger, 1)
    crashing = Publisher(ledger, tmp_path, None)
    monkeypatch.setattr(
        crashing, "_write_batch", lambda batch: (_ for _ in ()).throw(OSError("disk full"))
    )
    assert "disk full" in crashing.publish().error  # reported, never raised
    trade(ledger, 2)  # arrives while the first batch is allocated but unwritten
    Publisher(ledger, tmp_path, None).publish()
    assert sorted(r["trade_id"] for r in lake_rows(tmp_path, "fills")) == ["t1", "t2"]


def test_each_batch_is_reported_under_its_asset_key_path(ledger: Ledger, tmp_path: Path) -> None:
    trade(ledger, 1)
    with FakeHTTPServer() as dagster:
        for key in ("execution/fills", "execution/orders"):
            dagster.route("POST", f"/report_asset_materialization/{key}", Reply.json({}))
        report = Publisher(ledger, tmp_path, DagsterReporter(dagster.url)).publish()
    assert report.reported == 2 and report.unreported == 0
    paths = [r.path for r in dagster.requests]
    assert paths == [
        "/report_asset_materialization/execution/fills",
        "/report_asset_materialization/execution/orders",
    ]
    fills_request = dagster.requests[0]
    assert fills_request.headers["content-type"] == "application/json"
    body = json.loads(fills_request.body)
    assert "asset_key" not in body  # a JSON key would become ONE key part
    (row,) = lake_rows(tmp_path, "fills")
    assert body["data_version"] == row["batch_id"] == body["metadata"]["batch_id"]
    assert body["metadata"]["rows"] == 1
    assert Path(body["metadata"]["path"]).is_file()
    assert body["metadata"]["first_event_time"] == (T0 + timedelta(minutes=1)).isoformat()


def test_nothing_is_lost_while_dagster_is_down(ledger: Ledger, tmp_path: Path) -> None:
    now = [0.0]
    trade(ledger, 1)
    with FakeHTTPServer() as dead:
        url = dead.url
    publisher = Publisher(
        ledger, tmp_path, DagsterReporter(url, timeout=1.0), monotonic=lambda: now[0]
    )
    report = publisher.publish()
    assert (report.reported, report.unreported) == (0, 2)
    assert report.error and "POST" in report.error
    trade(ledger, 2)
    with FakeHTTPServer() as dagster:
        dagster.route("POST", "/report_asset_materialization/execution/fills", Reply.json({}))
        dagster.route(
            "POST",
            "/report_asset_materialization/execution/orders",
            Reply.json({"error": "boom"}, status=500),
        )
        publisher.reporter = DagsterReporter(dagster.url)
        assert publisher.publish().reported == 0  # still backing off after the failure
        now[0] += 5
        report = publisher.publish()
        # Oldest first, stopping at the first failure: the first fills batch, then orders fails.
        assert (report.reported, report.unreported) == (1, 3)
        assert "HTTP 500" in report.error
        dagster.route("POST", "/report_asset_materialization/execution/orders", Reply.json({}))
        now[0] += 60
        assert publisher.publish().reported == 3
        fills_versions = [
            json.loads(r.body)["data_version"]
            for r in dagster.requests
            if r.path.endswith("/fills")
        ]
    assert fills_versions == sorted(fills_versions) and len(fills_versions) == 2
    assert [r["trade_id"] for r in lake_rows(tmp_path, "fills")] == ["t1", "t2"]
