"""The account's trading state, as the risk engine of NautilusTrader names them.

- ACTIVE: everything the limits allow.
- REDUCING: exits only (pause, close-all, a risk stage that allows no new entries).
- HALTED: nothing new at all (halt, the drawdown kill switch, a reconciliation mismatch);
  protective exits are suppressed and audited so that a human decides.

A ``StrEnum``: stored in the ledger and printed as its value (``"HALTED"``).
"""

from __future__ import annotations

from enum import StrEnum


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"
