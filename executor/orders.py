"""The order state machine and deterministic client order ids.

::

    PENDING_SUBMIT ──► OPEN ──► PARTIALLY_FILLED ──► FILLED
          │   │          │            │
          │   │          └────────────┴──► CANCELED | EXPIRED
          │   └──► REJECTED                (a definitive exchange answer)
          └──► IN_FLIGHT_UNKNOWN ──► any state the exchange reports for the client order id
                         └──► GIVEN_UP   (ours: the exchange never had it)

IN_FLIGHT_UNKNOWN means the exchange's answer was lost (timeout, reset, 5xx): the order may
or may not exist. Only a query by client order id resolves it; it is never submitted again.
GIVEN_UP is the executor's own verdict, not an exchange answer: after repeated "no such
order" answers it stops asking (REJECTED is only ever what an exchange said).
"""

from __future__ import annotations

import re
from enum import StrEnum


class OrderState(StrEnum):
    PENDING_SUBMIT = "PENDING_SUBMIT"
    IN_FLIGHT_UNKNOWN = "IN_FLIGHT_UNKNOWN"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    GIVEN_UP = "GIVEN_UP"


TERMINAL_STATES: frozenset[OrderState] = frozenset(
    {
        OrderState.FILLED,
        OrderState.CANCELED,
        OrderState.REJECTED,
        OrderState.EXPIRED,
        OrderState.GIVEN_UP,
    }
)
# Orders the exchange may still be working (or may know about): polled every tick.
LIVE_STATES: frozenset[OrderState] = frozenset(
    {
        OrderState.PENDING_SUBMIT,
        OrderState.IN_FLIGHT_UNKNOWN,
        OrderState.OPEN,
        OrderState.PARTIALLY_FILLED,
    }
)

_AFTER_SUBMIT = frozenset(
    {
        OrderState.OPEN,
        OrderState.PARTIALLY_FILLED,
        OrderState.FILLED,
        OrderState.CANCELED,
        OrderState.REJECTED,
        OrderState.EXPIRED,
    }
)

TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.PENDING_SUBMIT: _AFTER_SUBMIT | {OrderState.IN_FLIGHT_UNKNOWN},
    OrderState.IN_FLIGHT_UNKNOWN: _AFTER_SUBMIT
    | {OrderState.IN_FLIGHT_UNKNOWN, OrderState.GIVEN_UP},
    OrderState.OPEN: frozenset(
        {
            OrderState.OPEN,
            OrderState.PARTIALLY_FILLED,
            OrderState.FILLED,
            OrderState.CANCELED,
            OrderState.EXPIRED,
        }
    ),
    OrderState.PARTIALLY_FILLED: frozenset(
        {
            OrderState.PARTIALLY_FILLED,
            OrderState.FILLED,
            OrderState.CANCELED,
            OrderState.EXPIRED,
        }
    ),
    # A terminal state only "moves" to itself (a repeated report of the same outcome).
    OrderState.FILLED: frozenset({OrderState.FILLED}),
    OrderState.CANCELED: frozenset({OrderState.CANCELED}),
    OrderState.REJECTED: frozenset({OrderState.REJECTED}),
    OrderState.EXPIRED: frozenset({OrderState.EXPIRED}),
    OrderState.GIVEN_UP: frozenset({OrderState.GIVEN_UP}),
}


class IllegalTransition(RuntimeError):
    """An order was asked to move to a state its current state cannot reach."""


def check_transition(current: OrderState | str, new: OrderState | str) -> OrderState:
    """Return ``new`` as an ``OrderState`` if the move is legal, else raise."""
    old, target = OrderState(current), OrderState(new)
    if target not in TRANSITIONS[old]:
        allowed = sorted(s.value for s in TRANSITIONS[old])
        raise IllegalTransition(f"order cannot go from {old} to {target}; allowed: {allowed}")
    return target


# Short codes keep ids within Binance's 36 characters.
ROLE_CODES: dict[str, str] = {
    "entry": "e",
    "exit": "x",
    "stop_loss": "s",
    "take_profit": "t",
    "trailing_stop": "r",
    "operator": "o",
    "backstop": "b",
    "preservation": "p",  # capital preservation closes (executor.protocol_gate)
    "force_exit": "f",  # trading control force-exit (exit reason force_exit)
    # The protocol's exits (executor.exits), each role its exit reason.
    "atr_stop": "a",
    "time_stop": "m",
    "take_profit_1": "1",
    "take_profit_2": "2",
    "take_profit_3": "3",
}

# Binance's rule for newClientOrderId; every id we generate matches it.
CLIENT_ORDER_ID_PATTERN = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_SOURCE_PATTERN = re.compile(r"^[A-Za-z0-9]{1,24}$")


def client_order_id(source_id: str, role: str, attempt: int = 0) -> str:
    """``tp-<source>-<role code><attempt>``: the same decision always gets the same id.

    ``source_id`` is the intent id (or, for orders with no intent, e.g. an operator close,
    another deterministic id such as ``op<command id><symbol>``); ``attempt`` counts repriced
    replacements of an unfilled limit order, each a new exchange order.
    """
    if role not in ROLE_CODES:
        raise ValueError(f"order role {role!r}; allowed: {list(ROLE_CODES)}")
    if attempt < 0 or attempt > 999:
        raise ValueError(f"attempt must be within 0..999, got {attempt}")
    source = source_id[:24]
    if not _SOURCE_PATTERN.match(source):
        raise ValueError(f"source id {source_id!r} must be alphanumeric")
    # At most 3 + 24 + 1 + 1 + 3 = 32 characters of CLIENT_ORDER_ID_PATTERN's alphabet.
    return f"tp-{source}-{ROLE_CODES[role]}{attempt}"
