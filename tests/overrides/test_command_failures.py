"""A command the executor cannot carry out is answered, never retried for ever: the commands
after it are still applied in the same tick, and the tick reports no crashed step."""

from __future__ import annotations

import pytest

from executor import override_ledger
from tests.overrides.conftest import Desk


def test_a_command_that_crashes_is_failed_and_the_next_one_applies(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(override_ledger, "apply_command", explode)
    desk.ledger.add_command("blacklist", "ops", "first", "BTC/USDT", {"source": "test"})
    desk.ledger.add_command("pause", "ops", "second")
    report = desk.tick()
    assert report.errors == [] and report.commands_applied == 2
    second, first = desk.ledger.commands()
    assert first.result == "failed: RuntimeError: disk on fire"
    assert second.result == "REDUCING: exits only"
    assert desk.ledger.commands(pending_only=True) == []
    desk.tick()  # nothing left to retry
    assert desk.engine.last_report.commands_applied == 0


def test_rows_written_past_the_checks_are_refused_when_applied(desk: Desk) -> None:
    """A ledger row the CLI would never write (another tool, an old version): the executor
    checks it again and refuses it by name."""
    rows = [
        ("set-risk", None, {"scale": float("inf")}),
        ("set-risk", None, {"scale": -2}),
        ("set-risk", None, {"scale": 50.0}),
        ("blacklist", "ZZZ/USDT", {}),
        ("pause-instance", None, {"instance": 7}),
        ("force-exit", "ETH/USDT", {"instance": "nope"}),
    ]
    for command, symbol, args in rows:
        if command == "set-risk" and args["scale"] == float("inf"):
            with pytest.raises(ValueError, match="finite"):
                desk.ledger.add_command(command, "ops", "x", symbol, args)
            continue
        desk.ledger.add_command(command, "ops", "x", symbol, args)
    report = desk.tick()
    assert report.errors == []
    results = {c.command + str(c.args): c.result for c in desk.ledger.commands()}
    assert results == {
        "set-risk{'scale': -2}": "refused: scale must be > 0 (a multiple of the tier's risk), "
        "got -2",
        "set-risk{'scale': 50.0}": "refused: scale 50 is above the allowed maximum "
        "(overrides.allow_above_tier is false: at most 1.0, the tier's limit)",
        "blacklist{}": "refused: unknown symbol 'ZZZ/USDT'; traded: ['BTC/USDT', 'ETH/USDT']",
        "pause-instance{'instance': 7}": "refused: unknown instance '7'; configured: "
        "['a', 'b', 'manual']",
        "force-exit{'instance': 'nope'}": "ETH/USDT: no open position of instance nope; "
        "canceled 0 working entry order(s)",
    }
    assert desk.ledger.audit_entries("override_changed") == []


def test_the_ledger_refuses_malformed_commands() -> None:
    from executor.ledger.controls import ControlStore

    with pytest.raises(ValueError, match="operator command 'explode'; allowed"):
        ControlStore.add_command(None, "explode", "ops", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="blacklist needs a symbol"):
        ControlStore.add_command(None, "blacklist", "ops", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="set-risk takes no symbol"):
        ControlStore.add_command(None, "set-risk", "ops", "x", "BTC/USDT")  # type: ignore[arg-type]
