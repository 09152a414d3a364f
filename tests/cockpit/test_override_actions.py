"""POST /api/v1/control/{set-risk | blacklist | unblacklist | force-exit | pause-instance |
resume-instance}: recorded through ``executor.override_ledger.issue`` (audited, source
``cockpit``); every refusal is a clear error naming the field and leaves every ledger table
as it was. The ledger: three instances with the risk protocol on (``pclient``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from executor.ledger import Ledger
from tests.cockpit.conftest import AUTH, TOKEN, ledger_rows, make_client

GOOD = [
    # (action, body, the command's symbol, arguments it must carry)
    ("set-risk", {"scale": 0.5}, None, {"scale": 0.5}),
    ("set-risk", {"scale": 1}, None, {"scale": 1.0}),
    ("set-risk", {"risk_per_trade": 0.01, "duration": "2h"}, None,
     {"risk_per_trade": 0.01, "for": "2h"}),
    ("blacklist", {"symbol": "ETH-USDT", "duration": "30m"}, "ETH/USDT", {"for": "30m"}),
    ("blacklist", {"symbol": "SOL/USDT"}, "SOL/USDT", {}),
    ("force-exit", {"symbol": "BTC/USDT"}, "BTC/USDT", {}),
    ("force-exit", {"symbol": "BTC/USDT", "instance": "c"}, "BTC/USDT", {"instance": "c"}),
    ("pause-instance", {"instance": "b", "duration": "1d"}, None, {"instance": "b"}),
    ("pause-instance", {"instance": "a", "clear": False}, None, {"instance": "a"}),
]  # fmt: skip


@pytest.mark.parametrize(("action", "body", "symbol", "args"), GOOD)
def test_an_override_is_recorded_checked_and_audited(
    pclient: TestClient, ledger: Ledger, action: str, body: dict, symbol: str | None, args: dict
) -> None:
    response = pclient.post(
        f"/api/v1/control/{action}", json={**body, "reason": "desk call", "who": "ann"},
        headers=AUTH,
    )  # fmt: skip
    assert response.status_code == 202, response.text
    (command,) = ledger.commands()
    assert response.json()["command_id"] == command.id
    assert (command.command, command.symbol, command.who, command.why) == (
        action, symbol, "cockpit:ann", "desk call",
    )  # fmt: skip
    assert command.args["source"] == "cockpit"
    assert args.items() <= command.args.items()
    if "duration" in body:  # turned into an expiry when issued
        assert "until" in command.args
    (audit,) = ledger.audit_entries("command_issued")
    assert audit["details"]["id"] == command.id


def test_lifting_checks_against_the_pending_commands(pclient: TestClient, ledger: Ledger) -> None:
    for action, body in (("set-risk", {"scale": 0.5}), ("set-risk", {"clear": True}),
                         ("blacklist", {"symbol": "BTC/USDT"}),
                         ("unblacklist", {"symbol": "BTC/USDT"}),
                         ("pause-instance", {"instance": "c"}),
                         ("resume-instance", {"instance": "c"})):  # fmt: skip
        response = pclient.post(f"/api/v1/control/{action}", json=body, headers=AUTH)
        assert response.status_code == 202, (action, response.text)
    assert len(ledger.commands()) == 6
    before = ledger_rows(ledger)
    # The same pause while the first is still pending is a duplicate (issue's check).
    dup = pclient.post("/api/v1/control/pause-instance", json={"instance": "c"}, headers=AUTH)
    assert dup.status_code == 422 and "already pending" in dup.json()["error"]
    assert ledger_rows(ledger) == before


NAN = {"content": b'{"scale": NaN}', "headers": {**AUTH, "Content-Type": "application/json"}}
REFUSALS = [
    # (action, request kwargs, status, words in the error, the field named)
    ("set-risk", NAN, 422, "finite", "scale"),
    ("set-risk", {"content": b'{"scale": Infinity}'}, 422, "finite", "scale"),
    ("set-risk", {"content": b'{"scale": 1e999}'}, 422, "finite", "scale"),
    ("set-risk", {"json": {"scale": "0.5"}}, 422, "valid number", "scale"),
    ("set-risk", {"json": {"scale": True}}, 422, "valid number", "scale"),
    ("set-risk", {"json": {"scale": [1]}}, 422, "scale", "scale"),
    ("set-risk", {"json": {"scale": -1.0}}, 422, "scale must be > 0", "scale"),
    ("set-risk", {"json": {"scale": 0}}, 422, "scale must be > 0", "scale"),
    ("set-risk", {"json": {"scale": 1.5}}, 422, "above the allowed maximum", "scale"),
    ("set-risk", {"json": {"scale": 1e300}}, 422, "above the allowed maximum", "scale"),
    ("set-risk", {"json": {"risk_per_trade": 0.5}}, 422, "above tier 1", "risk_per_trade"),
    ("set-risk", {"json": {"risk_per_trade": -0.01}}, 422, "(0, 1)", "risk_per_trade"),
    ("set-risk", {"json": {"scale": 0.5, "risk_per_trade": 0.01}}, 422, "exactly one", None),
    ("set-risk", {"json": {}}, 422, "exactly one", None),
    ("set-risk", {"json": {"clear": "yes"}}, 422, "valid boolean", "clear"),
    ("set-risk", {"json": {"clear": True}}, 422, "nothing to clear", None),
    ("set-risk", {"json": {"scale": 0.5, "duration": "99y"}}, 422, "30m, 2h or 1d", "duration"),
    ("set-risk", {"json": {"scale": 0.5, "duration": "-2h"}}, 422, "30m, 2h or 1d", "duration"),
    ("set-risk", {"json": {"scale": 0.5, "duration": "9999d"}}, 422, "max_duration", None),
    ("set-risk", {"json": {"scale": 0.5, "duration": 2}}, 422, "valid string", "duration"),
    ("set-risk", {"json": {"scale": 0.5, "until": "2000-01-01T00:00Z"}}, 422, "not in the future",
     "until"),
    ("set-risk", {"json": {"scale": 0.5, "until": "tomorrow"}}, 422, "ISO date-time", "until"),
    ("set-risk", {"json": {"scale": 0.5, "duration": "2h", "until": "2099-01-01T00:00Z"}}, 422,
     "not both", None),
    ("set-risk", {"json": {"scale": 0.5, "symbol": "BTC/USDT"}}, 422, "set-risk takes no symbol",
     "symbol"),
    ("set-risk", {"json": {"scale": 0.5, "sclae": 1}}, 422, "sclae", "sclae"),
    ("blacklist", {"json": {"symbol": "DOGE/USDT"}}, 422, "unknown symbol", "symbol"),
    ("blacklist", {"json": {"symbol": "btc usdt"}}, 422, "BTC/USDT or BTC-USDT", "symbol"),
    ("blacklist", {"json": {"symbol": 42}}, 422, "valid string", "symbol"),
    ("blacklist", {"json": {}}, 422, "needs a symbol", None),
    ("blacklist", {"json": {"symbol": "BTC/USDT", "instance": "a"}}, 422, "takes no instance",
     "instance"),
    ("blacklist", {"json": {"symbol": "BTC/USDT", "scale": 1.0}}, 422, "takes no scale", "scale"),
    ("unblacklist", {"json": {"symbol": "BTC/USDT"}}, 422, "is not blacklisted", None),
    ("unblacklist", {"json": {"symbol": "BTC/USDT", "duration": "2h"}}, 422, "takes no duration",
     "duration"),
    ("force-exit", {"json": {"symbol": "SOL/USDT"}}, 422, "no open position", None),
    ("force-exit", {"json": {"symbol": "ETH/USDT", "instance": "a"}}, 422, "no open position",
     None),
    ("force-exit", {"json": {"symbol": "BTC/USDT", "instance": "zz"}}, 422, "unknown instance",
     "instance"),
    ("force-exit", {"json": {"symbol": "BTC/USDT", "duration": "1h"}}, 422, "takes no duration",
     "duration"),
    ("pause-instance", {"json": {"instance": "zz"}}, 422, "unknown instance", "instance"),
    ("pause-instance", {"json": {"instance": "old"}}, 422, "unknown instance", "instance"),
    ("pause-instance", {"json": {}}, 422, "unknown instance None", None),
    ("pause-instance", {"json": {"instance": 7}}, 422, "valid string", "instance"),
    ("pause-instance", {"json": {"instance": "a" * 41}}, 422, "at most 40", "instance"),
    ("pause-instance", {"json": {"instance": "a", "extra": 1}}, 422, "extra", "extra"),
    ("pause-instance", {"json": {"instance": "a", "duration": "0m"}}, 422, "> 0", "duration"),
    ("pause-instance", {"content": b"[1, 2]"}, 422, "JSON object", "body"),
    ("pause-instance", {"content": b'{"instance": "a"' + b" " * 5000 + b"}"}, 413, "at most",
     None),
    ("resume-instance", {"json": {"instance": "a"}}, 422, "is not paused", None),
    ("pause", {"json": {"instance": "a"}}, 422, "pause takes no instance", "instance"),
    ("close-all", {"json": {"scale": 0.5}}, 422, "close-all takes no scale", "scale"),
    ("pause-instance", {"json": {"instance": "a"}, "headers": {}}, 401, "needs the token", None),
    ("set-risk", {"json": {"scale": 0.5}, "headers": {"Authorization": "Bearer nope-nope-nope"}},
     403, "wrong token", None),
]  # fmt: skip


@pytest.mark.parametrize(("action", "kwargs", "status", "words", "field"), REFUSALS)
def test_a_refused_override_is_a_clear_error_and_records_nothing(
    pclient: TestClient,
    ledger: Ledger,
    action: str,
    kwargs: dict,
    status: int,
    words: str,
    field: str | None,
) -> None:
    before = ledger_rows(ledger)
    kwargs = {"headers": AUTH, **kwargs}
    response = pclient.post(f"/api/v1/control/{action}", **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert words in body["error"], body
    if field is not None:
        assert body.get("field") == field, body
    assert ledger_rows(ledger) == before
    assert TOKEN not in response.text


def test_set_risk_needs_the_risk_protocol(plan: list[dict], ledger: Ledger) -> None:
    before = ledger_rows(ledger)
    with make_client({"TRADING_COCKPIT_TOKEN": TOKEN}) as c:  # no strategies: list
        response = c.post("/api/v1/control/set-risk", json={"scale": 0.5}, headers=AUTH)
        assert response.status_code == 422 and "risk protocol is off" in response.json()["error"]
        ok = c.post("/api/v1/control/pause-instance", json={"instance": "default"}, headers=AUTH)
        assert ok.status_code == 202, ok.text
    assert len(ledger.commands()) == 1 and len(before["operator_commands"]) == 0


def test_read_only_refuses_every_override(portfolio: dict, ledger: Ledger) -> None:
    before = ledger_rows(ledger)
    with make_client({}) as c:
        for action, body in (("set-risk", {"scale": 0.5}), ("blacklist", {"symbol": "BTC/USDT"}),
                             ("unblacklist", {"symbol": "BTC/USDT"}),
                             ("force-exit", {"symbol": "BTC/USDT"}),
                             ("pause-instance", {"instance": "a"}),
                             ("resume-instance", {"instance": "a"})):  # fmt: skip
            response = c.post(f"/api/v1/control/{action}", json=body, headers=AUTH)
            assert response.status_code == 403 and "read-only" in response.json()["error"]
    assert ledger_rows(ledger) == before


def test_the_actions_page_offers_every_override(pclient: TestClient) -> None:
    html = pclient.get("/actions").text
    for button_id in ("do-set-risk", "do-set-risk-rpt", "do-set-risk-clear", "do-blacklist",
                      "do-unblacklist", "do-force-exit", "do-pause-instance",
                      "do-resume-instance", "do-pause", "do-close-position"):  # fmt: skip
        assert f'id="{button_id}"' in html, button_id
    assert '<select id="pi-instance"><option>a</option><option>b</option>' in html
    assert "<option>manual</option>" in html  # the protocol is on: intents naming none
    assert '<select id="fx-symbol"><option>BTC/USDT</option><option>ETH/USDT</option>' in html


def test_an_until_is_checked_against_the_overrides_max_duration(
    pclient: TestClient, ledger: Ledger
) -> None:
    soon = (ledger.now() + timedelta(hours=3)).isoformat(timespec="minutes") + "Z"
    response = pclient.post(
        "/api/v1/control/blacklist", json={"symbol": "BTC/USDT", "until": soon}, headers=AUTH
    )
    assert response.status_code == 202, response.text
    (command,) = ledger.commands()
    assert command.args["until"].startswith(soon[:16])
