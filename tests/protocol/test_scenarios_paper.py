"""The scenario tables through the paper executor: the same decisions as the backtester's
(trades, sizes, tiers, multipliers, protocol events and refusals)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.protocol.paper_runner import run_in_paper_executor
from tests.protocol.scenarios import PROTOCOL_KINDS, Outcome, assert_outcome, run_in_backtester
from tests.protocol.test_scenarios import SCENARIOS


def decisions(outcome: Outcome) -> tuple[list, list]:
    trades = [
        (t["instance"], t["symbol"], t["entry_ts"], t["exit_ts"], t["exit_reason"], t["tier"],
         round(t["size_multiplier"], 12),
         # the executor floors quantities to the market's lot step (1e-8 in paper)
         pytest.approx(t["entry_value"], rel=1e-6))
        for t in outcome.trades
    ]  # fmt: skip
    events = [
        (e["ts"], e["kind"], e["instance"], e["detail"].get("refused_by"))
        for e in outcome.events
        if e["kind"] in (*PROTOCOL_KINDS, "entry_refused")
    ]
    return trades, events


@pytest.mark.parametrize("build", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_scenario_in_paper_executor(build, scripted, tmp_path: Path) -> None:
    scenario = build()
    paper = run_in_paper_executor(scenario, tmp_path)
    assert_outcome(scenario, paper)
    assert decisions(paper) == decisions(run_in_backtester(scenario))


def test_the_paper_runner_is_not_vacuous(scripted, tmp_path: Path) -> None:
    """A table with one wrong entry value fails through the executor too."""
    from tests.protocol.scenarios import Scenario, Trade
    from tests.protocol.test_scenarios import risk_based_sizing

    base = risk_based_sizing()
    wrong = Scenario(base.name, base.candles, base.config,
                     [Trade("r1", "BTC/USDT", 0, None, None, entry_value=151.0),
                      base.trades[1]], [])  # fmt: skip
    with pytest.raises(AssertionError, match="entry_value"):
        assert_outcome(wrong, run_in_paper_executor(wrong, tmp_path))
    assert math.isfinite(run_in_paper_executor(base, tmp_path / "x").trades[0]["entry_value"])
