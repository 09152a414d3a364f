"""The operator overrides through their Dagster jobs (real in-process execution with the
launchpad's run config) against the SQLite ledger, applied by a paper executor tick: who is
``dagster:<operator>``, the source and run id are kept, bad input fails the run by name."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from tests.overrides.conftest import Desk
from trading_pipelines.control_jobs import CONTROL_JOBS
from trading_pipelines.resources.ledger import LedgerResource

JOBS = {job.name: job for job in CONTROL_JOBS}


def launch(desk: Desk, name: str, **config: Any) -> dg.ExecuteInProcessResult:
    config = {"operator": "dana", "reason": "from the launchpad", **config}
    return JOBS[name].execute_in_process(
        run_config={"ops": {f"{name}_op": {"config": config}}},
        resources={"ledger": LedgerResource(url=desk.url)},
        raise_on_error=False,
    )


def test_every_override_has_a_job_with_launchpad_config() -> None:
    assert set(JOBS) == {
        "control_set_risk", "control_blacklist", "control_unblacklist", "control_force_exit",
        "control_pause_instance", "control_resume_instance", "control_review",
    }  # fmt: skip
    for job in CONTROL_JOBS:
        (node,) = job.nodes
        fields = node.definition.config_schema.config_type.fields  # type: ignore[union-attr]
        assert {"operator", "reason"} <= set(fields), job.name
        assert fields["reason"].is_required and "UI has no authentication" in job.description


def test_the_definitions_register_them() -> None:
    from trading_pipelines import definitions

    assert definitions.CONTROL_JOBS is CONTROL_JOBS


def test_blacklist_job_records_who_and_why_and_the_executor_applies_it(desk: Desk) -> None:
    result = launch(desk, "control_blacklist", symbol="BTC/USDT", duration="1h")
    assert result.success
    (command,) = desk.ledger.commands(pending_only=True)
    assert (command.command, command.symbol, command.who) == ("blacklist", "BTC/USDT",
                                                              "dagster:dana")  # fmt: skip
    assert command.args["source"] == "dagster" and command.args["run_id"] == result.run_id
    assert command.args["for"] == "1h"
    refused = desk.intent("a", "BTC/USDT")
    desk.tick()
    assert "BTC/USDT blacklisted" in desk.result(command.id)
    assert desk.status(refused)[1].startswith("operator blacklist: BTC/USDT by dagster:dana")
    (issued,) = desk.ledger.audit_entries("command_issued")
    assert issued["actor"] == "operator:dagster:dana"
    assert issued["details"]["args"]["source"] == "dagster"
    assert launch(desk, "control_unblacklist", symbol="BTC/USDT").success
    desk.tick()
    assert desk.filled_value(desk.enter("a", "BTC/USDT")) == pytest.approx(500.0)


def test_set_risk_pause_resume_and_force_exit_jobs(desk: Desk) -> None:
    assert launch(desk, "control_set_risk", scale=0.5).success
    assert launch(desk, "control_pause_instance", instance="a").success
    paused = desk.intent("a", "BTC/USDT")
    sized = desk.intent("b", "ETH/USDT")
    desk.tick()
    assert desk.status(paused)[1].startswith("operator pause-instance: a")
    assert desk.filled_value(sized) == pytest.approx(50.0)
    assert launch(desk, "control_resume_instance", instance="a").success
    assert launch(desk, "control_force_exit", symbol="ETH/USDT").success
    desk.tick()
    assert desk.ledger.open_positions() == []
    (exit_order,) = [o for o in desk.ledger.orders() if o.role == "force_exit"]
    assert exit_order.reason == "operator force-exit by dagster:dana"


def test_review_job_reaches_the_protocol(desk: Desk) -> None:
    assert launch(desk, "control_review").success
    desk.tick()
    (command,) = desk.ledger.commands()
    assert command.who == "dagster:dana" and command.args["source"] == "dagster"
    assert command.result.startswith("refused:")  # not in capital preservation
    assert not launch(desk, "control_review", reason="  ").success
    assert launch(desk, "control_review", instance="b").success  # a demotion's review
    desk.tick()
    assert desk.ledger.commands(limit=1)[0].result.startswith("reviewed: streak_phase")
    assert not launch(desk, "control_review", instance="nope").success


@pytest.mark.parametrize(
    ("name", "config", "words"),
    [
        ("control_set_risk", {"scale": float("nan")}, "scale must be a finite number"),
        ("control_set_risk", {"scale": -1.0}, "scale must be > 0"),
        ("control_set_risk", {"scale": 3.0}, "above the allowed maximum"),
        ("control_set_risk", {"scale": 0.5, "until": "2001-01-01"}, "not in the future"),
        ("control_blacklist", {"symbol": "DOGE/USDT"}, "unknown symbol 'DOGE/USDT'"),
        ("control_pause_instance", {"instance": "nope"}, "unknown instance 'nope'"),
        ("control_force_exit", {"symbol": "BTC/USDT"}, "no open position in BTC/USDT"),
        ("control_blacklist", {"symbol": "BTC/USDT", "operator": " "}, "operator must be"),
    ],
)
def test_bad_launchpad_config_fails_the_run_by_name(
    desk: Desk, name: str, config: dict[str, Any], words: str
) -> None:
    result = launch(desk, name, **config)
    assert not result.success
    failure = result.failure_data_for_node(f"{name}_op")
    assert failure is not None and words in str(failure.error.message)
    assert desk.ledger.commands() == []


def test_a_duplicate_job_run_fails_while_the_first_is_pending(desk: Desk) -> None:
    assert launch(desk, "control_blacklist", symbol="ETH/USDT").success
    again = launch(desk, "control_blacklist", symbol="ETH/USDT")
    assert not again.success
    assert "already pending" in str(again.failure_data_for_node("control_blacklist_op").error)
    assert len(desk.ledger.commands()) == 1
