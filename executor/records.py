"""Plain records passed between the ledger, the brokers and the engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from executor.orders import OrderState
from trading_core.fills import Side

Liquidity = Literal["maker", "taker"]

# Below this a quantity is zero (floating-point residue of adding and subtracting fills).
QTY_EPSILON = 1e-12


@dataclass(frozen=True)
class Fill:
    """One exchange trade against one of our orders (or an external one)."""

    exchange: str
    trade_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    fee_currency: str | None
    liquidity: Liquidity
    event_time: datetime
    client_order_id: str | None = None
    exchange_order_id: str | None = None
    intent_id: str | None = None
    strategy: str | None = None
    # Quote per unit of fee_currency at fill time, when the fee is in a third currency (BNB).
    fee_price: float | None = None
    # The strategy instance the fill belongs to (its order's); None for external orders.
    instance_id: str | None = None


@dataclass(frozen=True)
class NewOrder:
    """An order about to exist: inserted as PENDING_SUBMIT before anything is sent."""

    client_order_id: str
    exchange: str
    symbol: str
    side: Side
    order_type: str  # market | limit (backstops: stop_loss_limit | limit_maker)
    role: str
    quantity: float
    price: float | None = None
    stop_price: float | None = None
    post_only: bool = False
    attempt: int = 0
    intent_id: str | None = None
    strategy: str | None = None
    reason: str | None = None
    # The strategy instance the order trades for (None: an external order).
    instance_id: str | None = None


@dataclass(frozen=True)
class OrderRecord:
    id: int
    client_order_id: str
    exchange_order_id: str | None
    intent_id: str | None
    strategy: str | None
    exchange: str
    symbol: str
    side: Side
    order_type: str
    role: str
    attempt: int
    post_only: bool
    quantity: float
    price: float | None
    stop_price: float | None
    state: OrderState
    filled_quantity: float
    average_price: float | None
    fee: float
    fee_currency: str | None
    reason: str | None
    mode: str
    submitted_at: datetime | None
    lookups: int
    created_at: datetime
    updated_at: datetime
    instance_id: str | None = None

    @property
    def remaining(self) -> float:
        return max(self.quantity - self.filled_quantity, 0.0)


@dataclass(frozen=True)
class OrderUpdate:
    """What the exchange (or the paper matcher) says about an order now."""

    state: OrderState
    exchange_order_id: str | None = None
    filled_quantity: float | None = None
    average_price: float | None = None
    fee: float | None = None
    fee_currency: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Position:
    exchange: str
    symbol: str
    quantity: float
    avg_entry_price: float
    # Cumulative, in quote: before fees, the fees (valued at fill time), and gross - fees.
    realized_pnl_gross: float
    realized_pnl_net: float
    fees_quote: float
    last_price: float | None
    strategy: str | None
    stop_loss: float | None
    take_profit: float | None
    trailing_stop_pct: float | None
    high_water: float | None
    entry_intent_id: str | None
    opened_at: datetime | None
    updated_at: datetime
    # A strategy instance's sub-position; the exchange holds the sum over instances.
    instance_id: str = "default"

    @property
    def mark_price(self) -> float:
        """Last known price, else the entry price (never zero for an open position)."""
        return self.last_price if self.last_price else self.avg_entry_price

    @property
    def market_value(self) -> float:
        return self.quantity * self.mark_price

    @property
    def unrealized_pnl(self) -> float:
        return (self.mark_price - self.avg_entry_price) * self.quantity


@dataclass(frozen=True)
class Account:
    """Cash and equity in one quote currency, at the last known prices."""

    quote: str
    cash: float
    positions_value: float
    equity: float
    open_positions: int
