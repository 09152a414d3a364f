"""Order intents: what a strategy wants, before the risk gate and before any order exists.

The code location writes intents into the ledger; the executor turns them into orders.
``intent_id`` is deterministic, so re-running a strategy evaluation for the same bar never
creates a second intent (the ledger has a unique constraint on it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Side = Literal["buy", "sell"]
Action = Literal["open", "close"]
OrderType = Literal["market", "limit"]


def make_intent_id(
    strategy: str, exchange: str, symbol: str, timeframe: str, bar_ts: datetime, action: str
) -> str:
    """Deterministic id of the decision taken by ``strategy`` on one bar."""
    key = "|".join([strategy, exchange, symbol, timeframe, bar_ts.isoformat(), action])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class OrderIntent:
    intent_id: str
    strategy: str
    exchange: str
    symbol: str  # unified ccxt symbol, BTC/USDT
    timeframe: str
    bar_ts: datetime  # open time of the bar the decision was taken on (naive UTC)
    decided_at: datetime  # when the decision was known: the bar's close time (naive UTC)
    side: Side
    action: Action  # open a position, or close (all of) it
    order_type: OrderType = "market"
    # Size: a quote-currency notional for opening buys; a base quantity, or None for
    # "the whole position" when closing.
    notional: float | None = None
    quantity: float | None = None
    limit_price: float | None = None
    reference_price: float = 0.0  # the price the decision saw (signal bar close)
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop_pct: float | None = None
    # A limit entry that must rest on the book (maker only): refused rather than crossing.
    post_only: bool = False
    reasons: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side {self.side!r}; allowed: 'buy', 'sell'")
        if self.action not in ("open", "close"):
            raise ValueError(f"action {self.action!r}; allowed: 'open', 'close'")
        if self.order_type not in ("market", "limit"):
            raise ValueError(f"order_type {self.order_type!r}; allowed: 'market', 'limit'")
        if self.order_type == "limit" and not self.limit_price:
            raise ValueError("a limit intent needs limit_price")
        if self.action == "open" and not (self.notional or self.quantity):
            raise ValueError("an opening intent needs notional or quantity")

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["reasons"] = json.dumps(self.reasons, sort_keys=True, default=str)
        return row
