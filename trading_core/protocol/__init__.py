"""The risk protocol's pure core: capital tiers, sizing, drawdown stages, allocation limits,
and issue 13's rules: losing streaks (``streaks``), freqtrade-style locks (``protections``),
Kelly sizing and its adjustments (``adaptive``), the correlation limit (``correlation``),
the exits (``exits``) and the record they keep (``rules``, ``trades``).

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
    record_close,
    record_trade,
    review,
    review_instance,
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
    "record_close",
    "record_trade",
    "review",
    "review_instance",
    "start_state",
]
