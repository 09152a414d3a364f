"""The ledger: the trading system of record, as stores sharing one unit of work.

- ``db``: the engine (SQLite in WAL mode with ``BEGIN IMMEDIATE``, or PostgreSQL), the unit
  of work (``LedgerDB.transaction``: one transaction per state change) and the clock;
- ``intents``: intents from NEW to a terminal status, duplicate refusal, quarantine;
- ``orders``: orders and their state changes (the state machine), external orders;
- ``fills``: fills, each recorded once; ``portfolio``: the positions and cash they move;
- ``balances``: the exchange's balance snapshots and the baseline (reconciliation);
- ``risk_state``: trading state, equity peak, the ledger's mode, the risk gate's inputs;
- ``controls``: operator commands; ``audit``: the audit log every store writes to;
- ``outbox``: which rows went to which lake batch (``executor.publish`` writes and reports).

``Ledger`` (``facade``) is the executor's one handle on all of them.
"""

from executor.ledger.balances import EMPTY_ACCOUNT
from executor.ledger.controls import COMMANDS, OperatorCommand
from executor.ledger.db import LedgerDB
from executor.ledger.facade import Ledger
from executor.ledger.intents import INTENT_STATUSES, IntentRecord, IntentSubmission
from executor.ledger.orders import INTENT_ROLES
from executor.ledger.outbox import OutboxBatch
from executor.ledger.portfolio import base_currency, quote_currency
from executor.ledger.risk_state import TRADING_STATES, LedgerModeMismatch, RiskInputs, RiskRecord

__all__ = [
    "COMMANDS",
    "EMPTY_ACCOUNT",
    "INTENT_ROLES",
    "INTENT_STATUSES",
    "TRADING_STATES",
    "IntentRecord",
    "IntentSubmission",
    "Ledger",
    "LedgerDB",
    "LedgerModeMismatch",
    "OperatorCommand",
    "OutboxBatch",
    "RiskInputs",
    "RiskRecord",
    "base_currency",
    "quote_currency",
]
