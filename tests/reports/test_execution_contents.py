"""execution/fills and execution/orders materializations carry a table of what they contain
(symbol, side, price, quantity, fee, instance), sent to a local fake Dagster."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from executor.ledger import Ledger
from executor.orders import OrderState
from executor.publish import CONTENTS_MAX_ROWS, DagsterReporter, Publisher, contents_table
from executor.records import Fill, NewOrder, OrderUpdate
from tests.executor.helpers import T0, Clock
from tests.fakes.http_json_server import FakeHTTPServer, Reply


@pytest.fixture
def ledger(tmp_path: Path):
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock=Clock(T0 + timedelta(days=1)))
    yield led
    led.close()


def trade(ledger: Ledger, n: int, strategy: str, side: str, price: float) -> None:
    cid = f"tp-i{n}-e0"
    ledger.create_order(
        NewOrder(
            client_order_id=cid, exchange="sim", symbol="ETH/USDT", side=side,
            order_type="market", role="entry", quantity=0.5, intent_id=f"i{n}",
            strategy=strategy,
        )
    )  # fmt: skip
    ledger.apply_order_update(
        cid,
        OrderUpdate(
            OrderState.FILLED,
            exchange_order_id=f"x{n}",
            filled_quantity=0.5,
            average_price=price,
            fee=0.02,
            fee_currency="USDT",
        ),
        [
            Fill(
                "sim",
                f"t{n}",
                "ETH/USDT",
                side,
                0.5,
                price,
                0.02,
                "USDT",
                "taker",
                T0 + timedelta(minutes=n),
            )
        ],
    )


def test_each_report_lists_its_rows(ledger: Ledger, tmp_path: Path) -> None:
    trade(ledger, 1, "default", "buy", 2000.0)
    trade(ledger, 2, "manual", "sell", 2010.0)
    with FakeHTTPServer() as dagster:
        for key in ("execution/fills", "execution/orders"):
            dagster.route("POST", f"/report_asset_materialization/{key}", Reply.json({}))
        assert Publisher(ledger, tmp_path, DagsterReporter(dagster.url)).publish().reported == 2
    fills, orders = (json.loads(r.body)["metadata"] for r in dagster.requests)
    assert fills["contents"] == [
        {"symbol": "ETH/USDT", "side": "buy", "price": 2000.0, "quantity": 0.5, "fee": 0.02,
         "instance": "default"},
        {"symbol": "ETH/USDT", "side": "sell", "price": 2010.0, "quantity": 0.5, "fee": 0.02,
         "instance": "manual"},
    ]  # fmt: skip
    filled = [r for r in orders["contents"] if r["state"] == "FILLED"]
    assert [(r["instance"], r["side"], r["price"]) for r in filled] == [
        ("default", "buy", 2000.0),
        ("manual", "sell", 2010.0),
    ]
    assert all(r["price"] is None for r in orders["contents"] if r["state"] != "FILLED")
    assert len(orders["contents"]) == 4  # PENDING_SUBMIT and FILLED of each order
    # Dagster stores the list as JSON metadata (what the REST endpoint does with it)
    mat = dg.AssetMaterialization(asset_key="fills", metadata={"contents": fills["contents"]})
    assert isinstance(mat.metadata["contents"], dg.JsonMetadataValue)


def test_a_large_batch_lists_its_first_rows_only() -> None:
    rows = [{"symbol": "BTC/USDT", "side": "buy", "price": 1.0, "quantity": 1.0, "fee": 0.0,
             "strategy": "macd", "instance": None}] * (CONTENTS_MAX_ROWS + 5)  # fmt: skip
    table = contents_table("fills", rows)
    assert len(table) == CONTENTS_MAX_ROWS and table[0]["instance"] == "macd"
    assert contents_table("fills", [{**rows[0], "instance": "alpha"}])[0]["instance"] == "alpha"
    order = {"symbol": "BTC/USDT", "side": "buy", "average_price": None, "limit_price": 9.5,
             "quantity": 2.0, "fee": None, "strategy": "macd", "state": "OPEN"}  # fmt: skip
    assert contents_table("orders", [order])[0] == {
        "symbol": "BTC/USDT", "side": "buy", "price": 9.5, "quantity": 2.0, "fee": None,
        "instance": "macd", "state": "OPEN",
    }  # fmt: skip
