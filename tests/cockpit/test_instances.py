"""A row per strategy instance (a ``strategies:`` list of three, plus one no longer
configured), the risk protocol's stage and the operator overrides, on the pages and in
``/api/v1/status``; numbers against ``ledger_data.populate_instances``' hand computation."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from executor import override_ledger
from executor.ledger import Ledger
from executor.protocol_gate import StoredProtocol
from tests.cockpit.conftest import AUTH, TOKEN, make_client
from trading_core.config import get_config
from trading_core.protocol.drawdown import DrawdownState
from trading_core.protocol.gate import ProtocolState
from trading_core.protocol.protections import Lock
from trading_core.protocol.rules import RulesState
from trading_core.protocol.streaks import StreakState
from trading_core.protocol.tiers import TierState
from trading_pipelines.cockpit.equity import FillFlow
from trading_pipelines.cockpit.instances import Held, today_pnl


def test_each_instance_row_carries_its_own_positions_and_pnl(
    pclient: TestClient, portfolio: dict[str, dict[str, float]]
) -> None:
    body = pclient.get("/api/v1/status").json()
    assert {"trading_state", "equity", "positions", "instances"} <= set(body)
    rows = {r["instance"]: r for r in body["instances"]}
    assert list(rows) == ["a", "b", "c", "old"]  # configured first, then the leftover
    for instance, expected in portfolio.items():
        row = rows[instance]
        assert sum(p["quantity"] for p in row["positions"]) == pytest.approx(expected["quantity"])
        assert row["unrealized_pnl"] == pytest.approx(expected["unrealized"]), instance
        assert row["today_pnl"] == pytest.approx(expected["today"]), instance
    # The instances' P&L is the account's, split.
    assert sum(r["today_pnl"] for r in rows.values()) == pytest.approx(body["today_pnl"])
    assert (rows["b"]["timeframe"], rows["b"]["risk_profile"], rows["b"]["pairs"]) == (
        "5m", "low", ["ETH/USDT"],
    )  # fmt: skip
    assert rows["c"]["pairs"] == ["BTC/USDT", "ETH/USDT"]
    assert [p["symbol"] for p in rows["c"]["positions"]] == ["BTC/USDT"]
    assert rows["a"]["status"] == "never started" and rows["a"]["configured"]
    assert rows["old"]["status"] == "not configured" and not rows["old"]["configured"]
    # The protocol is on (a strategies: list) but has not run: tier 1 until it does.
    assert {r["tier"] for r in rows.values()} == {1}
    assert "tier 1 of 4" in rows["a"]["tier_text"]
    assert "not started" in body["protocol_stage"]["words"][0]
    assert pclient.get("/api/v1/instances").json()["instances"] == body["instances"]
    # Positions of every instance, each with its instance.
    assert sorted((p["instance"], p["symbol"]) for p in body["positions"]) == [
        ("a", "BTC/USDT"), ("b", "ETH/USDT"), ("c", "BTC/USDT"), ("old", "ETH/USDT"),
    ]  # fmt: skip
    # the overview counts markets held: BTC/USDT of a and c is one position of the account
    assert 'id="card-positions">Open positions<b>2</b>' in pclient.get("/").text


def test_the_instances_page_shows_every_row_with_pause_buttons(pclient: TestClient) -> None:
    html = pclient.get("/instances").text
    for instance in ("a", "b", "c", "old"):
        assert f">{instance}</td>" in html
    assert 'id="pause-instance-a"' in html and 'id="pause-instance-b"' in html
    assert 'id="pause-instance-old"' not in html  # not configured: nothing to pause
    assert "not configured" in html and "+999.00" in html  # b's P&L today
    assert TOKEN not in html


def _store_protocol(ledger: Ledger, now: datetime) -> None:
    rules = RulesState(
        account=StreakState(consecutive=3, recent=(True, True, True), phase="caution"),
        instances={"b": StreakState(consecutive=5, phase="demoted")},
        locks=(
            Lock("a", "BTC/USDT", now + timedelta(hours=1), "cooldown", "after a stop"),
            Lock("c", None, now - timedelta(hours=1), "cooldown", "over already"),
        ),
    )
    state = ProtocolState(TierState(index=1), DrawdownState(peak=110_000.0, stage=1), rules)
    ledger.save_protocol_state(StoredProtocol(state, 100_000.0).to_json(), [], "test")


def test_protocol_stage_and_a_pause_applied_show_on_the_overview_and_the_rows(
    pclient: TestClient, ledger: Ledger
) -> None:
    now = ledger.now()
    _store_protocol(ledger, now)
    response = pclient.post(
        "/api/v1/control/pause-instance",
        json={"instance": "b", "duration": "2h", "reason": "streak"}, headers=AUTH,
    )  # fmt: skip
    assert response.status_code == 202, response.text
    (command,) = ledger.commands(pending_only=True)
    # What the executor does on its next tick (engine: override_ledger.apply_command).
    outcome = override_ledger.apply_command(ledger, get_config(), command, 1)
    assert outcome.applied, outcome.result
    body = pclient.get("/api/v1/status").json()
    rows = {r["instance"]: r for r in body["instances"]}
    assert rows["b"]["status"] == "paused" and rows["b"]["paused"]["by"] == "cockpit:web"
    assert rows["a"]["status"] == "never started"
    assert rows["b"]["streak_phase"] == "demoted" and rows["a"]["streak_phase"] == "normal"
    assert {r["tier"] for r in rows.values()} == {2}
    stage = body["protocol_stage"]
    assert stage["tier"] == 2 and stage["drawdown"]["stage"] == 1
    words = " ".join(stage["words"])
    assert "tier 2 of 4 (1.50% risk per trade)" in words
    assert "drawdown stage 1 of 4 (from 5 % below the peak" in words
    assert "account caution (3 loss(es) in a row)" in words and "b demoted (5)" in words
    assert "a BTC/USDT locked until" in words and "over already" not in words
    assert body["overrides"]["paused_instances"]["b"]["by"] == "cockpit:web"
    (paused,) = body["override_words"]
    assert paused.startswith("Paused instance b: by cockpit:web") and "until 20" in paused
    overview = pclient.get("/").text
    assert "Paused instance b" in overview and "tier 2 of 4" in overview
    instances = pclient.get("/instances").text
    assert 'id="resume-instance-b"' in instances and 'id="pause-instance-a"' in instances


def test_unreadable_overrides_or_protocol_state_are_named_not_a_crash(
    pclient: TestClient, ledger: Ledger
) -> None:
    ledger.save_operator_overrides('{"risk": 5}', "test", "override_changed", None, {})
    ledger.save_protocol_state('{"tier": "nope"}', [], "test")
    body = pclient.get("/api/v1/status").json()
    assert body["override_words"][0].startswith("Operator overrides unreadable")
    assert "unreadable" in body["protocol_stage"]["words"][0]
    assert {r["status"] for r in body["instances"]} == {"never started", "not configured"}
    assert pclient.get("/").status_code == pclient.get("/instances").status_code == 200


def test_without_a_strategies_list_the_default_instance_and_protocol_off(
    plan: list[dict], ledger: Ledger
) -> None:
    with make_client() as c:
        body = c.get("/api/v1/status").json()
    (row,) = body["instances"]
    assert (row["instance"], row["tier"], row["tier_text"]) == ("default", None, "—")
    assert body["protocol_stage"]["on"] is False and body["override_words"] == []
    assert row["today_pnl"] == pytest.approx(body["today_pnl"])


def _flow(k: int, symbol: str, side: str, qty: float, price: float, fee: float, ccy: str):
    return FillFlow(k, datetime(2026, 12, 1, 12), symbol, side, qty, price, fee, ccy)


def test_today_pnl_is_cash_moved_plus_held_now_minus_held_at_midnight() -> None:
    held_now = [Held("x", "S/USDT", 1.9, 1.9 * 12.0), Held("z", "S/USDT", 3.0, 36.0)]
    today = [
        ("x", _flow(1, "S/USDT", "buy", 2.0, 10.0, 0.1, "S")),  # the fee paid in the base
        ("y", _flow(2, "S/USDT", "sell", 1.0, 12.0, 0.5, "USDT")),
    ]
    pnl = today_pnl(held_now, today, {"S/USDT": 11.0})
    assert pnl["x"] == pytest.approx(-20.0 + 1.9 * 12.0)  # bought today: nothing at midnight
    assert pnl["y"] == pytest.approx(12.0 - 0.5 - 1.0 * 11.0)  # sold what it held at midnight
    assert pnl["z"] == pytest.approx(3.0 * (12.0 - 11.0))  # held all day: the price move
    assert today_pnl([], [], {}) == {}
