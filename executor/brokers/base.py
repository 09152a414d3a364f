"""What the engine needs from a broker, and how a broker says what happened.

Three kinds of failure, because they call for three different reactions:

- ``OrderRejected``: a definitive answer from the exchange (bad size, no funds, post-only
  would cross). The order is REJECTED with the exchange's reason.
- ``SubmitOutcomeUnknown``: the request may have reached the exchange but its answer was lost
  (timeout, reset, 5xx). The order goes IN_FLIGHT_UNKNOWN and is resolved by a query by
  client order id; it is never submitted again.
- ``BrokerUnavailable``: any other call failed after its retries; try again next tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from executor.records import Fill, OrderRecord, OrderUpdate
from executor.sizing import MarketRules


class BrokerError(Exception):
    """Base of everything a broker raises on purpose."""


class OrderRejected(BrokerError):
    """The exchange refused the order; ``str(exc)`` is its reason."""


class SubmitOutcomeUnknown(BrokerError):
    """The exchange's answer to a submit was lost; the order may or may not exist."""


class BrokerUnavailable(BrokerError):
    """A non-submit call failed for now (after retries)."""


@dataclass(frozen=True)
class OrderSnapshot:
    """An order as the exchange sees it now, with every fill it has (old ones included)."""

    update: OrderUpdate
    fills: tuple[Fill, ...] = ()


class Broker(Protocol):
    exchange: str
    # True when the broker holds state of its own (an exchange) to reconcile the ledger with.
    reconcilable: bool

    def market_rules(self, symbol: str) -> MarketRules: ...

    def reference_price(self, symbol: str, side: str, at: datetime | None = None) -> float:
        """The touch a ``side`` order would trade at first (best ask for a buy, best bid for a
        sell), now (``at`` None) or at ``at`` for brokers that replay history."""
        ...

    def submit(self, order: OrderRecord, at: datetime | None = None) -> OrderSnapshot: ...

    def query(self, order: OrderRecord, at: datetime | None = None) -> OrderSnapshot | None:
        """The order by client order id; None when the exchange has no such order."""
        ...

    def cancel(self, order: OrderRecord) -> OrderSnapshot: ...

    # Backstops (executor.backstop): protective orders the exchange holds itself. Their rows
    # are queried and canceled like any order; only ``place_backstop`` places them.

    def supports_native_stops(self, symbol: str) -> bool:
        """Whether the exchange holds stop-limit sells for ``symbol``."""
        ...

    def supports_oco(self, symbol: str) -> bool:
        """Whether it holds an OCO (a limit-maker and a stop-limit sell on one quantity)."""
        ...

    def place_backstop(
        self, legs: Sequence[OrderRecord], at: datetime | None = None
    ) -> list[OrderSnapshot]:
        """Place a backstop in one request: its stop-limit leg alone, or both legs (stop
        first) as an OCO. One snapshot per leg; raises like ``submit``."""
        ...
