"""GET /api/v1/*: the status contract and every read, against a real ledger."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from executor.ledger import Ledger
from tests.cockpit.conftest import FILLS_PER_TRADE, TRADES, make_client
from tests.cockpit.ledger_data import STARTING_CASH, populate
from trading_pipelines.cockpit.ledger_reader import LedgerReader


def test_status_has_the_contract_keys_and_the_ledger_numbers(
    client: TestClient, ledger: Ledger, plan: list[dict]
) -> None:
    body = client.get("/api/v1/status").json()
    assert {"trading_state", "equity", "positions", "instances"} <= set(body)
    assert body["trading_state"] == "ACTIVE"
    assert body["equity"] == pytest.approx(ledger.account("USDT").equity)
    (position,) = body["positions"]
    last = plan[-1]  # 21 trades: the last entry is still open
    assert position["symbol"] == last["symbol"] == "BTC/USDT"
    assert position["quantity"] == pytest.approx(last["quantity"])
    assert position["unrealized_pnl"] == pytest.approx(0.0)  # marked at its own fill price
    (instance,) = body["instances"]
    assert instance["instance"] == "default" and instance["strategy"] == "macd"
    assert instance["exchange"] == "sim" and instance["risk_level"] == "ACTIVE"
    assert [(p["symbol"], p["quantity"]) for p in instance["positions"]] == [
        ("BTC/USDT", position["quantity"])
    ]
    assert position["instance"] == "default" and instance["configured"]
    assert instance["status"] == "never started"  # no executor has run on this home
    assert client.get("/api/v1/instances").json()["instances"] == body["instances"]


def test_trades_are_newest_first_with_their_reasons_and_page_by_id(
    client: TestClient, plan: list[dict]
) -> None:
    first = client.get("/api/v1/trades", params={"limit": 5}).json()["trades"]
    assert [t["symbol"] for t in first] == [t["symbol"] for t in plan[::-1][:5]]
    assert first[0]["reason"] == plan[-1]["why"] == "macd cross up #20"
    ids = [t["id"] for t in first]
    assert ids == sorted(ids, reverse=True)
    rest = client.get("/api/v1/trades", params={"limit": 1000, "before_id": ids[-1]}).json()
    assert len(rest["trades"]) == TRADES - 5
    assert all(t["id"] < ids[-1] for t in rest["trades"])


def test_fills_page_by_id_and_count_every_fill(client: TestClient, ledger: Ledger) -> None:
    fills = client.get("/api/v1/fills", params={"limit": 1000}).json()["fills"]
    assert len(fills) == TRADES * FILLS_PER_TRADE == ledger.fill_count()
    assert fills[0]["trade_id"] == f"tp-{TRADES - 1:06d}-{FILLS_PER_TRADE - 1}"
    page = client.get("/api/v1/fills", params={"limit": 3, "before_id": fills[0]["id"]}).json()
    assert [f["id"] for f in page["fills"]] == [f["id"] for f in fills[1:4]]


def test_the_equity_curve_matches_a_hand_computed_first_fill(
    client: TestClient, ledger: Ledger, plan: list[dict]
) -> None:
    body = client.get("/api/v1/equity", params={"max_points": 5000}).json()
    points = body["points"]
    assert len(points) == TRADES * FILLS_PER_TRADE + 1  # every fill, then now
    first = plan[0]
    fee = first["quantity"] / FILLS_PER_TRADE * first["price"] * 0.001
    # The first buy turns cash into the same value in BTC: equity drops by the fee only.
    assert points[0]["equity"] == pytest.approx(STARTING_CASH - fee)
    assert points[-1]["equity"] == pytest.approx(ledger.account("USDT").equity)
    assert all(0.0 <= p["drawdown"] < 1 for p in points)
    assert body["max_drawdown"] == pytest.approx(max(p["drawdown"] for p in points))
    small = client.get("/api/v1/equity", params={"max_points": 4}).json()["points"]
    assert len(small) == 4 and small[0] == points[0]
    assert small[-1]["equity"] == pytest.approx(points[-1]["equity"])


def test_the_curve_grows_with_new_fills_and_matches_a_fresh_reader(
    client: TestClient, ledger: Ledger
) -> None:
    before = client.get("/api/v1/equity", params={"max_points": 5000}).json()
    populate(
        ledger, 3, 1, start=datetime(2026, 11, 25), seed=5, prefix="more"
    )  # a new BTC entry/exit and an ETH entry
    after = client.get("/api/v1/equity", params={"max_points": 5000}).json()
    assert len(after["points"]) == len(before["points"]) + 3
    fresh = LedgerReader(ledger, "USDT").equity(max_points=5000)
    assert [p["equity"] for p in after["points"][:-1]] == pytest.approx(
        [p["equity"] for p in fresh["points"][:-1]]
    )


def test_alerts_are_newest_first_and_broken_lines_are_counted(
    client: TestClient, alerts: list[dict]
) -> None:
    body = client.get("/api/v1/alerts").json()
    assert [a["title"] for a in body["alerts"]] == ["stalled", "drawdown"]
    assert body["unreadable_lines"] == 1


def test_signals_say_plainly_that_there_is_no_snapshot(client: TestClient) -> None:
    body = client.get("/api/v1/signals").json()
    assert body["available"] is False and body["markets"] == []
    assert "No warehouse snapshot yet" in body["message"]


def test_an_empty_ledger_answers_every_read(trading_home) -> None:
    with make_client() as c:
        status = c.get("/api/v1/status").json()
        assert status["equity"] == 0.0 and status["positions"] == []
        assert c.get("/api/v1/equity").json()["points"] == []
        assert c.get("/api/v1/trades").json() == {"trades": []}
        assert c.get("/api/v1/alerts").json() == {"alerts": [], "unreadable_lines": 0}
        assert c.get("/").status_code == 200


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/fills?limit=0", "limit"),
        ("/api/v1/fills?limit=1001", "limit"),
        ("/api/v1/fills?limit=abc", "limit"),
        ("/api/v1/fills?limit=nan", "limit"),
        ("/api/v1/trades?before_id=-1", "before_id"),
        ("/api/v1/trades?limit=99999999999999999999999", "limit"),
        ("/api/v1/equity?max_points=1", "max_points"),
        ("/api/v1/signals?history=-3", "history"),
        ("/api/v1/alerts?limit=1e3", "limit"),
    ],
)
def test_bad_query_values_get_an_error_naming_the_field(
    client: TestClient, url: str, field: str
) -> None:
    response = client.get(url)
    assert response.status_code == 422
    assert response.json()["field"] == field and field in response.json()["error"]
