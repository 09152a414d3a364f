"""POST /api/v1/control/{action}: the token, the Host allow-list, the rate limit, and bad
input. Every refusal is a clear error and leaves every ledger table as it was."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from executor.ledger import Ledger
from tests.cockpit.conftest import AUTH, TOKEN, ledger_rows, make_client
from trading_core.config import get_config


def test_a_write_with_the_token_records_the_trading_control_command_and_audits_it(
    client: TestClient, ledger: Ledger
) -> None:
    response = client.post("/api/v1/control/pause", json={"reason": "news at 14:00"}, headers=AUTH)
    assert response.status_code == 202
    body = response.json()
    (command,) = ledger.commands()
    assert body["command_id"] == command.id and body["status"] == "recorded"
    assert (command.command, command.who, command.why) == ("pause", "cockpit:web", "news at 14:00")
    assert command.applied_at is None  # the executor applies it on its next tick
    (audit,) = ledger.audit_entries("command_issued")
    assert audit["actor"] == "operator:cockpit:web" and audit["details"]["id"] == command.id


def test_x_trading_token_works_and_close_position_takes_either_symbol_spelling(
    client: TestClient, ledger: Ledger
) -> None:
    response = client.post(
        "/api/v1/control/close-position",
        json={"symbol": "BTC-USDT", "reason": "take it off", "who": "alice"},
        headers={"X-Trading-Token": TOKEN},
    )
    assert response.status_code == 202, response.text
    (command,) = ledger.commands()
    assert (command.command, command.symbol, command.who) == (
        "close-position",
        "BTC/USDT",
        "cockpit:alice",
    )


@pytest.mark.parametrize("action", ["resume", "close-all", "halt"])
def test_every_action_without_a_body_is_recorded(
    client: TestClient, ledger: Ledger, action: str
) -> None:
    assert client.post(f"/api/v1/control/{action}", headers=AUTH).status_code == 202
    assert [c.command for c in ledger.commands()] == [action]


REFUSALS = [
    # (headers, action, body kwargs, status, words in the error)
    ({}, "pause", {}, 401, "needs the token"),
    ({"Authorization": "Bearer wrong-token-0000"}, "pause", {}, 403, "wrong token"),
    ({"Authorization": f"Basic {TOKEN}"}, "pause", {}, 401, "Bearer"),
    ({"Authorization": "Bearer "}, "pause", {}, 401, "Bearer"),
    ({"X-Trading-Token": TOKEN[:-1]}, "pause", {}, 403, "wrong token"),
    ({"X-Trading-Token": TOKEN + "x"}, "halt", {}, 403, "wrong token"),
    ({}, "unknown-action", {}, 401, "token"),  # the token is checked before anything else
    (AUTH, "unknown-action", {}, 404, "unknown action"),
    (AUTH, "PAUSE", {}, 404, "allowed"),
    (AUTH, "pause", {"content": b"not json"}, 422, "not JSON"),
    (AUTH, "pause", {"content": b"\xff\xfe"}, 422, "not JSON"),
    (AUTH, "pause", {"json": ["pause"]}, 422, "JSON object"),
    (AUTH, "pause", {"json": {"reason": 5}}, 422, "reason"),
    (AUTH, "pause", {"json": {"reason": ""}}, 422, "reason"),
    (AUTH, "pause", {"json": {"reason": "x" * 501}}, 422, "reason"),
    (AUTH, "pause", {"json": {"reasn": "typo"}}, 422, "reasn"),
    (AUTH, "pause", {"json": {"who": "bob; drop table"}}, 422, "who"),
    (AUTH, "pause", {"json": {"symbol": "BTC/USDT"}}, 422, "only close-position"),
    (AUTH, "pause", {"content": b"{" * 5000}, 413, "at most"),
    (AUTH, "close-position", {}, 422, "needs a symbol"),
    (AUTH, "close-position", {"json": {"symbol": "DOGE/USDT"}}, 404, "no open position"),
    (AUTH, "close-position", {"json": {"symbol": "ETH/USDT"}}, 404, "BTC/USDT"),
    (AUTH, "close-position", {"json": {"symbol": "btc usdt"}}, 422, "symbol"),
    (AUTH, "close-position", {"json": {"symbol": None}}, 422, "needs a symbol"),
    (AUTH, "close-position", {"json": {"symbol": 7}}, 422, "symbol"),
    (AUTH, "close-position", {"json": {"symbol": "BTC/USDT" * 10}}, 422, "symbol"),
]


@pytest.mark.parametrize(("headers", "action", "kwargs", "status", "words"), REFUSALS)
def test_a_refused_write_is_a_clear_error_and_changes_nothing(
    client: TestClient,
    ledger: Ledger,
    headers: dict,
    action: str,
    kwargs: dict,
    status: int,
    words: str,
) -> None:
    before = ledger_rows(ledger)
    response = client.post(f"/api/v1/control/{action}", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert ledger_rows(ledger) == before
    assert TOKEN not in response.text


def test_with_no_token_configured_the_cockpit_is_read_only(plan, ledger: Ledger) -> None:
    before = ledger_rows(ledger)
    with make_client({}) as c:
        for action in ("pause", "resume", "close-all", "halt", "close-position"):
            response = c.post(
                f"/api/v1/control/{action}", json={"symbol": "BTC/USDT"}, headers=AUTH
            )
            assert response.status_code == 403 and "read-only" in response.json()["error"]
        assert "Read-only" in c.get("/actions").text
        assert c.get("/api/v1/status").status_code == 200
    assert ledger_rows(ledger) == before


@pytest.mark.parametrize(
    "host", ["evil.example", "127.0.0.1.nip.io", "localhost.evil.example", "", "[::2]:8088"]
)
def test_a_host_not_on_the_allow_list_gets_400_for_reads_and_writes(
    client: TestClient, ledger: Ledger, host: str
) -> None:
    before = ledger_rows(ledger)
    assert client.get("/api/v1/status", headers={"Host": host}).status_code == 400
    response = client.post("/api/v1/control/halt", headers={**AUTH, "Host": host})
    assert response.status_code == 400 and "not allowed" in response.json()["error"]
    assert ledger_rows(ledger) == before


@pytest.mark.parametrize("host", ["127.0.0.1:8088", "localhost", "LOCALHOST:1"])
def test_allowed_hosts_with_or_without_a_port_are_answered(client: TestClient, host: str) -> None:
    assert client.get("/api/v1/status", headers={"Host": host}).status_code == 200


def test_requests_beyond_the_clients_bucket_get_429_and_change_nothing(
    plan, ledger: Ledger
) -> None:
    cfg = get_config().model_copy(
        update={
            "cockpit": get_config().cockpit.model_copy(
                update={"rate_limit_burst": 3, "rate_limit_per_second": 0.01}
            )
        }
    )
    with make_client({"TRADING_COCKPIT_TOKEN": TOKEN}, cfg) as c:
        assert [c.get("/api/v1/positions").status_code for _ in range(3)] == [200] * 3
        before = ledger_rows(ledger)
        refused = c.post("/api/v1/control/halt", headers=AUTH)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert "too many requests" in refused.json()["error"]
        assert c.get("/").status_code == 429
        assert ledger_rows(ledger) == before


def test_no_secret_is_ever_shown(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    urls = ["/", "/instances", "/positions", "/trades", "/signals", "/actions",
            "/api/v1/status", "/api/v1/openapi.json", "/api/docs"]  # fmt: skip
    client.post("/api/v1/control/pause", json={"reason": "r"}, headers=AUTH)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert TOKEN not in response.text, url
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_an_unreadable_ledger_is_503_without_its_url(client: TestClient, ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE fills")
    response = client.get("/api/v1/fills")
    assert response.status_code == 503 and "cannot be read" in response.json()["error"]
    assert "sqlite" not in response.text and str(ledger.url) not in response.text
