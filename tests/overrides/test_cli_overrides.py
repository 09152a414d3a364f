"""The operator overrides end to end through ``trading control`` (``executor.control.main``)
against a real SQLite ledger and a paper executor's ticks: each applied within one tick,
audited with who and why, and every hostile input refused with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from executor.control import main
from tests.overrides.conftest import Desk, portfolio, write_config
from trading_pipelines.cli import main as trading_main


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def issued_id(out: str) -> int:
    return int(out.split("command ")[1].split()[0])


def test_help_lists_every_override(capsys: pytest.CaptureFixture) -> None:
    assert trading_main(["control", "--help"]) == 0
    text = capsys.readouterr().out
    names = ["pause", "resume", "halt", "close-all", "close-position", "review", "set-risk"]
    names += ["blacklist", "unblacklist", "force-exit", "pause-instance", "resume-instance"]
    for name in names:
        assert f"    {name}" in text, name


def test_set_risk_scales_the_next_entry_within_one_tick(
    desk: Desk, capsys: pytest.CaptureFixture
) -> None:
    code, out, _ = run(capsys, "set-risk", "--scale", "0.5", "--reason", "CPI week",
                       "--who", "alice")  # fmt: skip
    assert code == 0
    command_id = issued_id(out)
    entry = desk.intent("b", "ETH/USDT")  # handled in the same tick the command is applied
    desk.tick()
    assert desk.result(command_id).startswith("x0.5 of the tier's risk per trade: 1.0000%")
    # b: 0.5 x 1000 capital x 20 % = 100, at half the risk: 50
    assert desk.filled_value(entry) == pytest.approx(50.0)
    (applied,) = desk.ledger.audit_entries("risk_override_applied")
    assert applied["details"]["scale"] == 0.5 and applied["details"]["by"] == "alice"
    (changed,) = desk.ledger.audit_entries("override_changed")
    assert changed["actor"] == "operator:alice" and changed["details"]["why"] == "CPI week"
    assert changed["details"]["args"]["source"] == "cli"
    code, out, _ = run(capsys, "status")
    assert json.loads(out)["overrides"]["risk"]["scale"] == 0.5
    # cleared: the protocol's size again
    run(capsys, "set-risk", "--clear", "--reason", "CPI over")
    again = desk.enter("b", "ETH/USDT")
    assert desk.filled_value(again) == pytest.approx(100.0)


def test_risk_per_trade_becomes_a_scale_of_the_tier_and_expires(
    desk: Desk, capsys: pytest.CaptureFixture
) -> None:
    code, _, _ = run(capsys, "set-risk", "--risk-per-trade", "0.005", "--for", "1h")
    assert code == 0
    first = desk.enter("b", "ETH/USDT")
    assert desk.filled_value(first) == pytest.approx(25.0)  # 0.5 % of the tier's 2 %
    desk.clock.advance(hours=2)  # past its hour: the tier's risk again
    later = desk.enter("a", "BTC/USDT")
    assert desk.filled_value(later) == pytest.approx(500.0)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--scale", "nan"], "scale must be a finite number"),
        (["--scale", "inf"], "scale must be a finite number"),
        (["--scale", "-0.5"], "scale must be > 0"),
        (["--scale", "0"], "scale must be > 0"),
        (["--scale", "1.5"], "above the allowed maximum (overrides.allow_above_tier is false"),
        (["--risk-per-trade", "0.03"], "above tier 1's limit 0.02"),
        (["--risk-per-trade", "1.5"], "risk_per_trade must be a fraction of equity in (0, 1)"),
        (["--scale", "0.5", "--for", "0h"], "duration must be > 0"),
        (["--scale", "0.5", "--for=-1h"], "duration must look like 30m, 2h or 1d"),
        (["--scale", "0.5", "--for", "1e9h"], "duration must look like 30m, 2h or 1d"),
        (["--scale", "0.5", "--for", "400d"], "more than overrides.max_duration_hours 720"),
        (["--scale", "0.5", "--until", "2020-01-01T00:00Z"], "is not in the future"),
        (["--scale", "0.5", "--until", "next tuesday"], "until must be an ISO date-time"),
        (["--clear"], "no set-risk override is in force"),
    ],
)
def test_hostile_set_risk_inputs_are_refused_by_name(
    desk: Desk, capsys: pytest.CaptureFixture, argv: list[str], words: str
) -> None:
    code, _, err = run(capsys, "set-risk", *argv)
    assert code == 2
    assert words in err
    assert desk.ledger.commands() == []


def test_bad_argument_types_are_usage_errors(desk: Desk, capsys: pytest.CaptureFixture) -> None:
    assert run(capsys, "pause", "--who", "x" * 65)[0] == 2
    assert run(capsys, "blacklist", "BTC/USDT", "--reason", "x" * 1001)[0] == 2
    assert run(capsys, "set-risk", "--scale", "half")[0] == 2
    assert run(capsys, "set-risk")[0] == 2  # one of --scale / --risk-per-trade / --clear
    assert run(capsys, "set-risk", "--scale", "0.5", "--clear")[0] == 2
    assert run(capsys, "blacklist")[0] == 2
    assert run(capsys, "unblacklist", "BTC/USDT", "--for", "1h")[0] == 2  # not timed
    assert desk.ledger.commands() == []


def test_above_the_tier_only_when_the_config_allows_it(
    trading_home: Path, capsys: pytest.CaptureFixture
) -> None:
    write_config(trading_home, portfolio(allow_above_tier=True, max_scale=1.5))
    desk = Desk()
    try:
        assert run(capsys, "set-risk", "--scale", "1.6")[0] == 2
        code, _, _ = run(capsys, "set-risk", "--scale", "1.5")
        assert code == 0
        entry = desk.enter("b", "ETH/USDT")
        assert desk.filled_value(entry) == pytest.approx(150.0)
        # a asks for all its capital (500 of 500): the instance's capital stays a limit
        capped = desk.enter("a", "BTC/USDT")
        assert desk.filled_value(capped) == pytest.approx(500.0)
        latest = desk.ledger.audit_entries("risk_override_applied")[0]["details"]
        assert latest["protocol_notional"] == pytest.approx(500.0)
        assert latest["notional"] == pytest.approx(500.0)
    finally:
        desk.close()


def test_set_risk_needs_the_protocol(trading_home: Path, capsys: pytest.CaptureFixture) -> None:
    flat = portfolio()
    del flat["strategies"]
    write_config(trading_home, flat)
    code, _, err = run(capsys, "set-risk", "--scale", "0.5")
    assert code == 2 and "the risk protocol is off" in err


def test_blacklist_refuses_entries_keeps_exits_and_lifts(
    desk: Desk, capsys: pytest.CaptureFixture
) -> None:
    desk.enter("a", "BTC/USDT")  # an open BTC position before the blacklist
    code, out, _ = run(capsys, "blacklist", "btc-usdt", "--reason", "exchange delisting rumor",
                       "--who", "bob")  # fmt: skip
    assert code == 0
    refused = desk.intent("a", "BTC/USDT")
    desk.tick()
    assert "blacklisted: no new entries" in desk.result(issued_id(out))
    status, reason = desk.status(refused)
    assert status == "REJECTED_BY_RISK"
    assert reason.startswith("operator blacklist: BTC/USDT by bob")
    # a duplicate is an error naming the first; ETH is untouched
    code, _, err = run(capsys, "blacklist", "BTC/USDT")
    assert code == 2 and "already blacklisted" in err
    assert desk.filled_value(desk.enter("b", "ETH/USDT")) == pytest.approx(100.0)
    # the open position can still be closed (force-exit)
    code, out, _ = run(capsys, "force-exit", "BTC/USDT", "--reason", "out")
    desk.tick()
    assert "canceled 0 working entry order(s)" in desk.result(issued_id(out))
    assert [p.symbol for p in desk.ledger.open_positions()] == ["ETH/USDT"]
    run(capsys, "unblacklist", "BTC/USDT")
    allowed = desk.enter("a", "BTC/USDT")
    assert desk.filled_value(allowed) == pytest.approx(500.0)
    code, _, err = run(capsys, "unblacklist", "BTC/USDT")
    assert code == 2 and "BTC/USDT is not blacklisted" in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["blacklist", "DOGE/USDT"], "unknown symbol 'DOGE/USDT'; traded: ['BTC/USDT', 'ETH"),
        (["blacklist", "BTCUSDT"], "must look like BTC/USDT or BTC-USDT"),
        (["blacklist", "BTC/USDT; DROP TABLE"], "must look like BTC/USDT"),
        (["blacklist", "B" * 200 + "/USDT"], "must look like BTC/USDT"),
        (["unblacklist", "ETH/USDT"], "ETH/USDT is not blacklisted"),
        (["force-exit", "ETH/USDT"], "no open position in ETH/USDT; open positions: []"),
        (["force-exit", "BTC/USDT", "--instance", "zzz"], "unknown instance 'zzz'"),
        (["pause-instance", "zzz"], "unknown instance 'zzz'; configured: ['a', 'b', 'manual']"),
        (["resume-instance", "a"], "instance 'a' is not paused"),
        (["pause-instance", "a", "--until", "1999-01-01"], "is not in the future"),
        (["pause", "--reason", ""], None),  # today's commands keep their own rules
    ],
)
def test_hostile_symbols_and_instances_are_refused(
    desk: Desk, capsys: pytest.CaptureFixture, argv: list[str], words: str | None
) -> None:
    code, _, err = run(capsys, *argv)
    if words is None:
        assert code == 0
        return
    assert code == 2 and words in err
    assert desk.ledger.commands() == []


def test_pause_instance_stops_its_entries_only_and_resumes(
    desk: Desk, capsys: pytest.CaptureFixture
) -> None:
    code, out, _ = run(capsys, "pause-instance", "b", "--for", "30m", "--reason", "drift")
    assert code == 0
    refused = desk.intent("b", "ETH/USDT")
    other = desk.intent("a", "BTC/USDT")
    desk.tick()
    assert "instance b paused" in desk.result(issued_id(out))
    assert desk.status(refused)[1].startswith("operator pause-instance: b")
    assert desk.filled_value(other) == pytest.approx(500.0)
    # duplicates: pending and applied alike
    assert "already paused" in run(capsys, "pause-instance", "b")[2]
    code, out, _ = run(capsys, "resume-instance", "b")
    assert code == 0
    assert "already pending" in run(capsys, "resume-instance", "b")[2]
    back = desk.enter("b", "ETH/USDT")
    assert desk.result(issued_id(out)) == "instance b: entries again"
    assert desk.filled_value(back) == pytest.approx(100.0)


def test_force_exit_sells_with_the_force_exit_reason(
    desk: Desk, capsys: pytest.CaptureFixture
) -> None:
    desk.enter("a", "BTC/USDT")
    desk.enter("b", "ETH/USDT")
    code, out, _ = run(capsys, "force-exit", "ETH-USDT", "--instance", "b", "--who", "carol",
                       "--reason", "stuck")  # fmt: skip
    assert code == 0
    desk.tick()
    result = desk.result(issued_id(out))
    assert result.startswith("ETH/USDT: exit tp-") and "FILLED" in result
    (sold,) = [o for o in desk.ledger.orders() if o.side == "sell" and o.role != "backstop"]
    assert (sold.role, sold.instance_id, sold.symbol) == ("force_exit", "b", "ETH/USDT")
    assert sold.client_order_id.endswith("-f0")  # journal exit_reason: force_exit
    assert sold.reason == "operator force-exit by carol"
    assert [p.symbol for p in desk.ledger.open_positions()] == ["BTC/USDT"]
    # the position is gone: a second force-exit is an error, not a second sell
    assert "no open position in ETH/USDT" in run(capsys, "force-exit", "ETH/USDT")[2]


def test_a_command_that_expired_while_the_executor_was_down_changes_nothing(
    desk: Desk, capsys: pytest.CaptureFixture
) -> None:
    code, out, _ = run(capsys, "blacklist", "BTC/USDT", "--for", "5m")
    assert code == 0
    desk.tick(minutes=10)  # the executor comes back after the five minutes
    assert desk.result(issued_id(out)).startswith("refused: expired before it was applied")
    assert desk.filled_value(desk.enter("a", "BTC/USDT")) == pytest.approx(500.0)


def test_a_broken_overrides_document_refuses_commands_and_entries_not_the_loop(
    desk: Desk, capsys: pytest.CaptureFixture
) -> None:
    run(capsys, "blacklist", "BTC/USDT")
    desk.tick()
    import sqlalchemy as sa

    from executor import schema

    with desk.ledger.transaction() as conn:
        conn.execute(
            schema.ledger_meta.update()
            .where(schema.ledger_meta.c.key == "operator_overrides")
            .values(value='{"blacklist": {"BTC/USDT": {"since": "garbage"}}}')
        )
    desk.ledger.add_command("pause-instance", "ops", "test", None, {"instance": "a"})
    entry = desk.intent("b", "ETH/USDT")
    report = desk.tick()
    assert report.errors == []
    (command,) = [c for c in desk.ledger.commands() if c.command == "pause-instance"]
    assert command.result.startswith("refused: ledger_meta operator_overrides is not")
    assert desk.status(entry)[1].startswith("operator overrides unreadable")  # fails closed
    desk.ledger.add_command("pause", "ops", "still works")
    desk.tick()
    assert desk.ledger.commands(limit=1)[0].result == "REDUCING: exits only"
    assert sa is not None


def test_review_of_an_instance_reaches_the_protocols_demotion_review(
    desk: Desk, capsys: pytest.CaptureFixture
) -> None:
    code, out, _ = run(capsys, "review", "--instance", "a", "--reason", "streak checked")
    assert code == 0
    desk.tick()
    assert desk.result(issued_id(out)).startswith("reviewed: streak_phase")
    (command,) = desk.ledger.commands()
    assert command.args == {"instance": "a", "source": "cli"}
    code, _, err = run(capsys, "review", "--instance", "zzz")
    assert code == 2 and "unknown instance 'zzz'" in err


def test_without_the_protocol_blacklist_and_pause_instance_still_hold(
    trading_home: Path, capsys: pytest.CaptureFixture
) -> None:
    flat = portfolio()
    del flat["strategies"]
    write_config(trading_home, flat)
    desk = Desk()
    try:
        assert run(capsys, "blacklist", "BTC/USDT")[0] == 0
        assert run(capsys, "pause-instance", "b")[2].endswith("configured: ['default']\n")
        refused = desk.intent("default", "BTC/USDT", notional=50.0)
        allowed = desk.intent("default", "ETH/USDT", notional=50.0)
        desk.tick()
        assert desk.status(refused)[1].startswith("operator blacklist: BTC/USDT")
        assert desk.filled_value(allowed) == pytest.approx(50.0)
        assert run(capsys, "pause-instance", "default", "--for", "1h")[0] == 0
        paused = desk.intent("default", "ETH/USDT", notional=50.0)
        desk.tick()
        assert desk.status(paused)[1].startswith("operator pause-instance: default")
    finally:
        desk.close()


@pytest.mark.parametrize(
    ("command", "fields", "words"),
    [
        ("blacklist", {"symbol": "BTC/USDT", "scale": 2.0}, "blacklist takes no scale"),
        ("pause-instance", {"instance": "a", "risk_per_trade": 0.01}, "takes no risk_per_trade"),
        ("unblacklist", {"symbol": "BTC/USDT", "clear": True}, "unblacklist takes no clear"),
    ],
)
def test_a_sizing_field_on_another_override_is_refused_not_ignored(
    desk: Desk, command: str, fields: dict, words: str
) -> None:
    """The one checked path (CLI, Dagster jobs, Telegram, cockpit) refuses what a command does
    not take, instead of recording the command without it."""
    from executor import override_ledger
    from executor.overrides import OverrideError
    from trading_core.config import get_config

    with pytest.raises(OverrideError, match=words):
        override_ledger.issue(desk.ledger, get_config(), command, who="t", why="t", **fields)
    assert desk.ledger.commands() == []
