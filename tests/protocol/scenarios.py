"""Protocol scenarios as tables, in the style of freqtrade's ``BTContainer`` / ``BTrade``
(tests/optimize/__init__.py there): a small candle table per series, the configuration, and
the expected trades and protocol events. Each rule of the protocol gets one scenario.

The format is engine-neutral so the paper executor can run the same tables: signals are not
columns of the candles (live bars have none) but the parameters of the ``scripted``
strategy (``enter_at`` / ``exit_at``: bar open times), which any engine evaluates through
the one strategy interface. ``run_in_backtester`` runs a scenario through the portfolio
backtester; an executor runner returns the same ``Outcome`` and ``assert_outcome`` checks
both.

Candle rows: ``[tick, open, high, low, close, enter, exit]``; bar ``tick`` opens at
``T0 + tick x timeframe``. Outcome ticks are the bars at whose close a fill or event
happened (the backtester stamps the bar's close time: tick = close / timeframe - 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from pydantic import Field

from trading_core.strategies.base import Strategy, StrategyParams

T0 = datetime(2024, 1, 1)
STEP = timedelta(hours=1)
PROTOCOL_KINDS = (
    "tier_change",
    "drawdown_stage",
    "capital_preservation_start",
    "capital_preservation_end",
    "size_restored",
    "streak_phase",
    "lock",
)


class ScriptedParams(StrategyParams):
    enter_at: list[datetime] = Field(default_factory=list)
    exit_at: list[datetime] = Field(default_factory=list)
    score_at: dict[datetime, float] = Field(default_factory=dict)  # composite scores


class ScriptedStrategy(Strategy):
    """Enters and exits at the bars a scenario names (registered as ``scripted`` by the
    tests' fixture)."""

    name = "scripted"
    params_model = ScriptedParams
    params: ScriptedParams
    required_columns = ("ts", "close")

    @property
    def warmup(self) -> int:
        return 0

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        ts = bars["ts"]
        entry = ts.isin(pd.to_datetime(self.params.enter_at))
        exit_ = ts.isin(pd.to_datetime(self.params.exit_at))
        return pd.DataFrame({"entry": entry, "exit": exit_, "reason": "scripted"})

    def scores(self, bars: pd.DataFrame) -> pd.Series:
        """The composite score per bar (NaN where the scenario gives none)."""
        given = {pd.Timestamp(k): v for k, v in self.params.score_at.items()}
        return bars["ts"].map(lambda t: given.get(pd.Timestamp(t), float("nan"))).astype(float)


@dataclass(frozen=True)
class Trade:
    """An expected position (``BTrade``): ticks of its entry and exit fills."""

    instance: str
    symbol: str
    open_tick: int
    close_tick: int | None
    exit_reason: str | None
    tier: int | None = None
    size_multiplier: float | None = None
    entry_value: float | None = None  # checked to 1e-6 relative
    caps: tuple[str, ...] | None = None
    # Its exit fills: (tick, reason, quantity or None), quantities checked to 1e-6 relative.
    exits: tuple[tuple[int, str, float | None], ...] | None = None


@dataclass(frozen=True)
class Event:
    tick: int
    kind: str
    detail: Mapping[str, Any] = field(default_factory=dict)  # a subset of the event's detail
    instance: str | None = None


@dataclass(frozen=True)
class Scenario:
    """A ``BTContainer``: candles per (instance, symbol), the config, what must happen."""

    name: str
    candles: Mapping[tuple[str, str], list[list[float]]]
    config: Mapping[str, Any]  # the trading.yaml tree: strategies, protocol, fees, executor
    trades: list[Trade]
    events: list[Event]  # every protocol event (PROTOCOL_KINDS), in order
    refusals: list[Event] = field(default_factory=list)  # entry_refused events, in order
    scores: Mapping[str, Mapping[int, float]] = field(default_factory=dict)  # id -> tick -> score


@dataclass(frozen=True)
class Outcome:
    trades: list[dict[str, Any]]
    events: list[dict[str, Any]]


def frame(rows: list[list[float]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["tick", "open", "high", "low", "close", "enter", "exit"])
    assert (table["low"] <= table[["open", "close"]].min(axis=1)).all(), "low above open/close"
    assert (table["high"] >= table[["open", "close"]].max(axis=1)).all(), "high below open/close"
    ts = [T0 + STEP * int(t) for t in table["tick"]]
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(ts),
            **{c: table[c].astype(float) for c in ("open", "high", "low", "close")},
            "volume": 1.0,
        }
    ), table


def config_tree(scenario: Scenario) -> dict[str, Any]:
    """The configuration with each instance's scripted signals taken from its table."""
    tree = {k: v for k, v in scenario.config.items() if k != "strategies"}
    instances = []
    for inst in scenario.config["strategies"]:
        enter, exit_ = [], []
        for symbol in inst["symbols"]:
            _, table = frame(scenario.candles[(inst["id"], symbol)])
            enter += [T0 + STEP * int(t) for t in table["tick"][table["enter"] == 1]]
            exit_ += [T0 + STEP * int(t) for t in table["tick"][table["exit"] == 1]]
        params = {
            "enter_at": [t.isoformat() for t in enter],
            "exit_at": [t.isoformat() for t in exit_],
            "score_at": {
                (T0 + STEP * tick).isoformat(): score
                for tick, score in scenario.scores.get(inst["id"], {}).items()
            },
        }
        instances.append({"strategy": "scripted", "timeframe": "1h", **inst, "params": params})
    tree["strategies"] = instances
    return tree


def tick_of(iso: str | None) -> int | None:
    if iso is None:
        return None
    moment = datetime.fromisoformat(iso.removesuffix("Z"))
    return int((moment - T0) / STEP) - 1


def run_in_backtester(scenario: Scenario) -> Outcome:
    from trading_core.config import TradingConfig
    from trading_core.config_portfolio import instances_of
    from trading_core.portfolio_backtest import build_report, run_portfolio

    config = TradingConfig.model_validate(config_tree(scenario))
    instances = instances_of(config)
    bars = {key: frame(rows)[0] for key, rows in scenario.candles.items()}
    run = run_portfolio(
        instances, bars, config.protocol, config.fees, config.executor.starting_cash
    )
    report = build_report(run)
    return Outcome(report["trades"], report["events"])


def assert_outcome(scenario: Scenario, outcome: Outcome) -> None:
    got = [
        (
            t["instance"],
            t["symbol"],
            tick_of(t["entry_ts"]),
            tick_of(t["exit_ts"]),
            t["exit_reason"],
        )
        for t in outcome.trades
    ]
    want = [
        (t.instance, t.symbol, t.open_tick, t.close_tick, t.exit_reason) for t in scenario.trades
    ]
    assert got == want, f"{scenario.name}: trades {got} != {want}"
    for row, spec in zip(outcome.trades, scenario.trades, strict=True):
        if spec.tier is not None:
            assert row["tier"] == spec.tier, f"{scenario.name}: tier of {spec}"
        if spec.size_multiplier is not None:
            assert math.isclose(row["size_multiplier"], spec.size_multiplier), (
                f"{scenario.name}: size_multiplier {row['size_multiplier']} of {spec}"
            )
        if spec.entry_value is not None:
            assert math.isclose(row["entry_value"], spec.entry_value, rel_tol=1e-6), (
                f"{scenario.name}: entry_value {row['entry_value']} != {spec.entry_value}"
            )
        if spec.caps is not None:
            assert tuple(row["reasons"]["caps"]) == spec.caps, f"{scenario.name}: caps {row}"
        if spec.exits is not None:
            fills = [(tick_of(x["ts"]), x["reason"], x["quantity"]) for x in row["exits"]]
            assert [f[:2] for f in fills] == [e[:2] for e in spec.exits], (
                f"{scenario.name}: exits {fills} != {spec.exits}"
            )
            for (_, _, got_q), (_, _, want_q) in zip(fills, spec.exits, strict=True):
                if want_q is not None:
                    assert math.isclose(got_q, want_q, rel_tol=1e-6), (
                        f"{scenario.name}: exit quantity {got_q} != {want_q}"
                    )
    _match_events(
        scenario.name, [e for e in outcome.events if e["kind"] in PROTOCOL_KINDS], scenario.events
    )
    refused = [e for e in outcome.events if e["kind"] == "entry_refused"]
    _match_events(scenario.name, refused, scenario.refusals)


def _match_events(name: str, got: list[dict[str, Any]], want: list[Event]) -> None:
    pairs = [(tick_of(e["ts"]), e["kind"]) for e in got]
    assert pairs == [(e.tick, e.kind) for e in want], f"{name}: events {pairs}"
    for event, spec in zip(got, want, strict=True):
        assert event["instance"] == spec.instance, f"{name}: instance of {event}"
        for key, value in spec.detail.items():
            assert event["detail"].get(key) == value, f"{name}: {key} of {event}"
