"""The risk protocol's pure core: capital tiers, sizing, drawdown stages, allocation limits.

The same functions decide in the executor's risk gate and in the portfolio backtester
(``trading_core.portfolio_backtest``); ``gate`` is the entry point.
"""

from trading_core.protocol.gate import (
    AccountView,
    EntryDecision,
    EntryRequest,
    InstanceView,
    ProtocolEvent,
    ProtocolState,
    Reasons,
    decide_entry,
    observe,
    record_trade,
    review,
    start_state,
)

__all__ = [
    "AccountView",
    "EntryDecision",
    "EntryRequest",
    "InstanceView",
    "ProtocolEvent",
    "ProtocolState",
    "Reasons",
    "decide_entry",
    "observe",
    "record_trade",
    "review",
    "start_state",
]
