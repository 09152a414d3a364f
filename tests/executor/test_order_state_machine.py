"""The order state machine and client order ids."""

from __future__ import annotations

import pytest

from executor.orders import (
    CLIENT_ORDER_ID_PATTERN,
    TERMINAL_STATES,
    TRANSITIONS,
    IllegalTransition,
    OrderState,
    check_transition,
    client_order_id,
)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("PENDING_SUBMIT", "OPEN"),
        ("PENDING_SUBMIT", "FILLED"),
        ("PENDING_SUBMIT", "REJECTED"),
        ("PENDING_SUBMIT", "IN_FLIGHT_UNKNOWN"),
        ("IN_FLIGHT_UNKNOWN", "FILLED"),
        ("IN_FLIGHT_UNKNOWN", "REJECTED"),
        ("OPEN", "PARTIALLY_FILLED"),
        ("PARTIALLY_FILLED", "PARTIALLY_FILLED"),
        ("PARTIALLY_FILLED", "CANCELED"),
        ("OPEN", "EXPIRED"),
    ],
)
def test_legal_transitions(old: str, new: str) -> None:
    assert check_transition(old, new) == OrderState(new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("FILLED", "OPEN"),
        ("CANCELED", "FILLED"),
        ("REJECTED", "OPEN"),
        ("OPEN", "REJECTED"),  # once accepted, only the exchange's fills or a cancel end it
        ("OPEN", "PENDING_SUBMIT"),
        ("PARTIALLY_FILLED", "OPEN"),
        ("OPEN", "IN_FLIGHT_UNKNOWN"),
    ],
)
def test_illegal_transitions_raise(old: str, new: str) -> None:
    with pytest.raises(IllegalTransition, match=f"from {old} to {new}"):
        check_transition(old, new)


def test_terminal_states_only_repeat_themselves() -> None:
    for state in TERMINAL_STATES:
        assert TRANSITIONS[state] == {state}


def test_every_state_has_rules() -> None:
    assert set(TRANSITIONS) == set(OrderState)


def test_client_order_ids_are_deterministic_and_binance_safe() -> None:
    intent_id = "0123456789abcdef01234567"
    first = client_order_id(intent_id, "entry")
    assert first == client_order_id(intent_id, "entry")
    assert first != client_order_id(intent_id, "entry", attempt=1)
    assert first != client_order_id(intent_id, "exit")
    for role in ("entry", "exit", "stop_loss", "take_profit", "trailing_stop", "operator"):
        cid = client_order_id(intent_id + "ffff", role, attempt=999)
        assert CLIENT_ORDER_ID_PATTERN.match(cid), cid
        assert len(cid) <= 36


@pytest.mark.parametrize(
    ("source", "role", "attempt", "message"),
    [
        ("abc", "bogus", 0, "allowed"),
        ("abc", "entry", 1000, "attempt"),
        ("a|b", "entry", 0, "alphanumeric"),
    ],
)
def test_client_order_id_rejects_bad_input(
    source: str, role: str, attempt: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        client_order_id(source, role, attempt)
