"""The ``strategies:`` and ``protocol:`` sections: defaults, the ``default`` instance, and
hostile values refused with the field and the allowed values named."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from trading_core.config import ConfigError, TradingConfig, load_config
from trading_core.config_portfolio import (
    RISK_PROFILES,
    InstanceConfig,
    ProtocolConfig,
    instances_of,
    live_refusal,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "portfolio.yaml"


def inst(**over: object) -> dict:
    base = {
        "id": "a",
        "strategy": "macd",
        "symbols": ["BTC/USDT"],
        "timeframe": "1h",
        "allocation": 0.5,
    }
    return {**base, **over}


def load(tmp_path: Path, tree: dict) -> TradingConfig:
    file = tmp_path / "trading.yaml"
    file.write_text(yaml.safe_dump(tree))
    return load_config(file, environ={})


def test_without_strategies_the_old_variables_make_one_default_instance() -> None:
    env = {"TRADING_STRATEGY": "swing", "TRADING_SYMBOLS": "ETH/USDT,ADA/USDT"}
    env["TRADING_STRATEGY_TIMEFRAME"] = "1h"
    config = load_config(environ=env)
    (only,) = instances_of(config)
    assert only.id == "default"
    assert (only.strategy, only.symbols, only.timeframe) == (
        "swing",
        ["ETH/USDT", "ADA/USDT"],
        "1h",
    )
    risk = only.resolved_risk()
    assert risk.sizing == "fixed_fraction"
    assert risk.position_fraction == config.risk.position_fraction
    assert risk.stop_loss_pct == config.risk.stop_loss_pct
    assert only.allocation == 1.0


def test_example_portfolio_loads_with_five_instances() -> None:
    config = load_config(EXAMPLE, environ={})
    instances = instances_of(config)
    assert len(instances) == 5
    assert {i.exchange for i in instances} == {"sim"}
    assert sum(i.allocation for i in instances) <= 1.0
    assert {i.risk_profile for i in instances} == {"low", "medium", "high"}


def test_profiles_are_documented_defaults_an_instance_overrides() -> None:
    item = InstanceConfig.model_validate(inst(risk_profile="low", risk={"stop_loss_pct": 0.05}))
    risk = item.resolved_risk()
    assert risk.stop_loss_pct == 0.05
    assert risk.risk_scale == RISK_PROFILES["low"].risk_scale
    assert RISK_PROFILES["high"].paused_from_stage == 3


def test_protocol_defaults_are_the_blueprint() -> None:
    p = ProtocolConfig()
    assert [t.floor for t in p.tiers] == [0, 2000, 5000, 10000]
    assert [t.risk_per_trade for t in p.tiers] == [0.02, 0.015, 0.0125, 0.01]
    assert [t.max_position for t in p.tiers] == [0.15, 0.12, 0.10, 0.08]
    assert [t.max_positions for t in p.tiers] == [3, 4, 5, 6]
    assert [s.pct for s in p.drawdown_stages] == [5, 10, 15, 20]
    assert [s.level for s in p.drawdown_stages] == ["WARNING", "CRITICAL", "EMERGENCY", "EMERGENCY"]
    assert p.allocation.assets == {"BTC": 0.40, "ETH": 0.30}
    assert p.preservation.cooldown_hours == 48 and p.preservation.resume_size == 0.25
    assert p.promotion.min_trades == 100 and p.demotion_below_floor == 0.2


def test_arbitrage_is_refused_at_configuration_time_with_the_reason(tmp_path: Path) -> None:
    assert "close_a" in (live_refusal("arbitrage") or "")
    assert live_refusal("macd") is None
    with pytest.raises(ConfigError) as err:
        load(tmp_path, {"strategies": [inst(strategy="arbitrage", params={})]})
    text = str(err.value)
    assert "strategies.0.strategy" in text and "cannot run live" in text
    assert "['close_a', 'close_b']" in text and "'macd'" in text


@pytest.mark.parametrize(
    ("over", "field", "words"),
    [
        ({"allocation": math.nan}, "strategies.0.allocation", "finite"),
        ({"allocation": -0.1}, "strategies.0.allocation", "greater than 0"),
        ({"allocation": 1e300}, "strategies.0.allocation", "less than or equal to 1"),
        ({"allocation": "half"}, "strategies.0.allocation", "valid number"),
        ({"risk_profile": "yolo"}, "strategies.0.risk_profile", "'low', 'medium' or 'high'"),
        ({"timeframe": "7h"}, "strategies.0.timeframe", "allowed"),
        ({"strategy": "nope"}, "strategies.0.strategy", "allowed"),
        ({"symbols": ["BTCUSDT"]}, "strategies.0.symbols", "BASE/QUOTE"),
        ({"symbols": ["BTC/USDT", "BTC/USDT"]}, "strategies.0.symbols", "duplicate"),
        ({"symbols": []}, "strategies.0.symbols", "at least 1"),
        ({"id": "Has Space"}, "strategies.0.id", "allowed"),
        ({"id": "manual"}, "strategies.0.id", "reserved"),
        ({"params": {"fast": math.inf}}, "strategies.0.params", "finite"),
        ({"params": {"fast": 30, "slow": 10}}, "strategies.0.params", "fast"),
        ({"risk": {"stop_loss_pct": 2}}, "strategies.0", "stop_loss_pct"),
        ({"risk": {"bogus": 1}}, "strategies.0.risk", "allowed"),
        ({"risk": {"sizing": "martingale"}}, "strategies.0", "'risk_based' or 'kelly'"),
        ({"enabled": "perhaps"}, "strategies.0.enabled", "boolean"),
        ({"colour": "red"}, "strategies.0.colour", "Extra inputs"),
    ],
)
def test_hostile_instance_values_name_the_field(
    tmp_path: Path, over: dict, field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, {"strategies": [inst(**over)]})
    assert field in str(err.value)
    assert words in str(err.value)


def test_duplicate_ids_and_overallocation_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="duplicate instance ids"):
        load(tmp_path, {"strategies": [inst(), inst()]})
    with pytest.raises(ConfigError, match=r"sum to 1.2; allowed: at most 1"):
        load(tmp_path, {"strategies": [inst(allocation=0.6), inst(id="b", allocation=0.6)]})
    disabled = load(
        tmp_path,
        {"strategies": [inst(allocation=0.6), inst(id="b", allocation=0.6, enabled=False)]},
    )
    assert [i.id for i in instances_of(disabled)] == ["a"]


@pytest.mark.parametrize(
    ("protocol", "field", "words"),
    [
        (
            {
                "tiers": [
                    {"floor": 100, "risk_per_trade": 0.02, "max_position": 0.1, "max_positions": 3}
                ]
            },
            "protocol.tiers",
            "allowed: 0",
        ),
        (
            {
                "tiers": [
                    {"floor": 0, "risk_per_trade": 0.02, "max_position": 0.1, "max_positions": 3},
                    {"floor": 0, "risk_per_trade": 0.02, "max_position": 0.1, "max_positions": 3},
                ]
            },
            "protocol.tiers",
            "strictly increasing",
        ),
        (
            {
                "tiers": [
                    {
                        "floor": 0,
                        "risk_per_trade": math.nan,
                        "max_position": 0.1,
                        "max_positions": 3,
                    }
                ]
            },
            "protocol.tiers.0.risk_per_trade",
            "finite",
        ),
        ({"tiers": []}, "protocol.tiers", "at least 1"),
        (
            {
                "drawdown_stages": [
                    {"pct": 10, "level": "WARNING", "size_multiplier": 1},
                    {"pct": 5, "level": "CRITICAL", "size_multiplier": 0.5},
                ]
            },
            "protocol.drawdown_stages",
            "strictly increasing",
        ),
        (
            {
                "drawdown_stages": [
                    {"pct": 5, "level": "WARNING", "size_multiplier": 0.5},
                    {"pct": 10, "level": "CRITICAL", "size_multiplier": 0.9},
                ]
            },
            "protocol.drawdown_stages",
            "never rising",
        ),
        (
            {"drawdown_stages": [{"pct": 5, "level": "LOUD", "size_multiplier": 1}]},
            "protocol.drawdown_stages.0.level",
            "'INFO', 'WARNING', 'CRITICAL' or 'EMERGENCY'",
        ),
        (
            {"drawdown_stages": [{"pct": 150, "level": "WARNING", "size_multiplier": 1}]},
            "protocol.drawdown_stages.0.pct",
            "less than 100",
        ),
        (
            {"preservation": {"cooldown_hours": -1}},
            "protocol.preservation.cooldown_hours",
            "greater than 0",
        ),
        (
            {"preservation": {"resume_size": 0}},
            "protocol.preservation.resume_size",
            "greater than 0",
        ),
        ({"allocation": {"assets": {"BTC": 1.5}}}, "protocol.allocation.assets", "(0, 1]"),
        (
            {"allocation": {"tags": {"alts": {"assets": [], "max_fraction": 0.3}}}},
            "protocol.allocation.tags.alts.assets",
            "at least 1",
        ),
        (
            {"promotion": {"min_trades": -5}},
            "protocol.promotion.min_trades",
            "greater than or equal to 0",
        ),
        ({"demotion_below_floor": 1.0}, "protocol.demotion_below_floor", "less than 1"),
    ],
)
def test_hostile_protocol_values_name_the_field(
    tmp_path: Path, protocol: dict, field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, {"protocol": protocol})
    assert field in str(err.value)
    assert words in str(err.value)


def test_a_default_instance_that_cannot_run_live_is_refused_with_the_reason() -> None:
    config = load_config(environ={"TRADING_STRATEGY": "arbitrage"})
    assert config.strategy.name == "arbitrage"  # single-strategy research still takes it
    with pytest.raises(ValueError) as err:
        instances_of(config)
    text = str(err.value)
    assert "strategy.name (env TRADING_STRATEGY) 'arbitrage' is refused" in text
    assert "cannot run live" in text and "close_a" in text
