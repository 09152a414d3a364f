"""Operator commands through `executor.control.main(argv)` (what `trading control` calls)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from executor.control import main
from executor.ledger import Ledger


@pytest.fixture
def ledger(trading_home: Path) -> Ledger:
    from trading_core.config import get_paths

    led = Ledger(get_paths().ledger_url())
    yield led
    led.close()


def test_commands_are_written_with_who_and_why(
    ledger: Ledger, capsys: pytest.CaptureFixture
) -> None:
    assert main(["pause", "--reason", "CPI print", "--who", "alice"]) == 0
    assert main(["close-position", "BTC-USDT", "--who", "bob"]) == 0
    assert "recorded" in capsys.readouterr().out
    pause, close = ledger.commands(pending_only=True)
    assert (pause.command, pause.who, pause.why) == ("pause", "alice", "CPI print")
    assert (close.command, close.symbol, close.why) == (
        "close-position",
        "BTC/USDT",
        "no reason given",
    )
    issued = ledger.audit_entries("command_issued")
    assert {e["actor"] for e in issued} == {"operator:alice", "operator:bob"}


def test_who_defaults_to_the_os_user(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "carol")
    assert main(["halt", "--reason", "exchange incident"]) == 0
    (command,) = ledger.commands(pending_only=True)
    assert command.who == "carol"


def test_bad_usage_returns_an_error_code(ledger: Ledger) -> None:
    assert main(["close-position"]) == 2
    assert main(["close-position", "BTCUSDT"]) == 2
    assert main(["explode"]) == 2
    assert ledger.commands() == []


def test_status_prints_state_positions_and_commands(
    ledger: Ledger, capsys: pytest.CaptureFixture
) -> None:
    ledger.set_trading_state("REDUCING", "paused by test", "operator:alice")
    main(["resume", "--who", "alice"])
    capsys.readouterr()
    assert main(["status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["trading_state"] == "REDUCING"
    assert status["reason"] == "paused by test"
    assert status["pending_commands"][0]["command"] == "resume"
    assert status["positions"] == [] and status["health"] is None


def test_wait_reports_when_the_executor_applied_it(
    ledger: Ledger, capsys: pytest.CaptureFixture
) -> None:
    def executor_tick() -> None:
        time.sleep(0.3)
        (command,) = ledger.commands(pending_only=True)
        ledger.mark_command_applied(command.id, "REDUCING: exits only")

    worker = threading.Thread(target=executor_tick)
    worker.start()
    assert main(["pause", "--wait", "5"]) == 0
    worker.join()
    assert "applied: REDUCING: exits only" in capsys.readouterr().out
    assert main(["halt", "--wait", "0.3"]) == 1  # nobody applies it
