"""The risk gate: every rule rejects with a reason that names it."""

from __future__ import annotations

import dataclasses

import pytest

from executor.risk import RiskContext, check_intent, drawdown, drawdown_breached
from tests.executor.helpers import make_intent
from trading_core.config import RiskConfig

LIMITS = RiskConfig(
    position_fraction=0.2,
    max_open_positions=2,
    max_trades_per_day=3,
    min_notional=10.0,
    max_notional=200.0,
    blacklist=["DOGE"],
)
CTX = RiskContext(
    trading_state="ACTIVE",
    equity=1000.0,
    cash=1000.0,
    price=100.0,
    position_quantity=0.0,
    busy_symbols=frozenset(),
    trades_today=0,
    taker_fee=0.001,
)


def ctx(**changes: object) -> RiskContext:
    return dataclasses.replace(CTX, **changes)


def test_a_reasonable_entry_is_accepted() -> None:
    decision = check_intent(make_intent(notional=150.0), CTX, LIMITS)
    assert decision.accepted, decision.reason


@pytest.mark.parametrize(
    ("intent_kw", "context", "reason"),
    [
        ({}, {"trading_state": "HALTED"}, "HALTED"),
        ({}, {"trading_state": "REDUCING"}, "only exits"),
        ({"side": "sell"}, {}, "short"),
        ({"symbol": "DOGE/USDT"}, {}, "blacklisted"),
        ({"notional": 5.0}, {}, "below min_notional"),
        ({"notional": 500.0}, {}, "above max_notional"),
        ({}, {"busy_symbols": frozenset({"ETH/USDT", "SOL/USDT"})}, "max_open_positions"),
        ({}, {"trades_today": 3}, "max_trades_per_day"),
        ({"notional": 150.0}, {"position_quantity": 1.0}, "position_fraction"),
        ({"notional": 150.0}, {"cash": 100.0}, "cash"),
        ({}, {"price": 0.0}, "no price"),
    ],
)
def test_entry_rules(intent_kw: dict, context: dict, reason: str) -> None:
    decision = check_intent(make_intent(**intent_kw), ctx(**context), LIMITS)
    assert not decision.accepted
    assert reason in decision.reason


def test_adding_to_a_busy_symbol_does_not_count_as_a_new_position() -> None:
    context = ctx(busy_symbols=frozenset({"BTC/USDT", "ETH/USDT"}))
    assert check_intent(make_intent("BTC/USDT"), context, LIMITS).accepted


def test_quantity_intents_are_valued_at_the_price() -> None:
    intent = make_intent(notional=None, quantity=3.0)  # 300 at price 100 > max_notional
    assert "above max_notional" in check_intent(intent, CTX, LIMITS).reason


def test_exits_pass_while_reducing_but_not_when_halted() -> None:
    close = make_intent(action="close")
    assert check_intent(
        close, ctx(trading_state="REDUCING", position_quantity=1.0), LIMITS
    ).accepted
    assert not check_intent(
        close, ctx(trading_state="HALTED", position_quantity=1.0), LIMITS
    ).accepted


def test_exit_without_a_position_is_rejected() -> None:
    decision = check_intent(make_intent(action="close"), CTX, LIMITS)
    assert not decision.accepted and "no open position" in decision.reason


def test_drawdown_from_peak() -> None:
    assert drawdown(800.0, 1000.0) == pytest.approx(0.2)
    assert drawdown(1100.0, 1000.0) == 0.0
    assert drawdown_breached(800.0, 1000.0, 0.2)
    assert not drawdown_breached(801.0, 1000.0, 0.2)
