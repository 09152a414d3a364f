"""What an instance actually traded: round trips rebuilt from the ledger's fills, orders and
intents (the frames ``drift_ledger`` reads), for the drift report.

A round trip of one instance in one symbol starts with a buy fill while flat and ends with
the sell fill that makes it flat again, in the ledger's recorded order (fill id). Its entry
price and exit price are the fills' volume-weighted averages, its fees their ``fee_quote``
(a fee without a quote value counts as 0 and is flagged), ``pnl = proceeds - cost`` with
``cost = value + fees`` as the ledger books it. Its signal bar is the ``bar_ts`` of the
intent of its first entry fill; the lag of a fill is its time after that bar's close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from trading_core.timeframes import timeframe_delta

QTY_EPSILON = 1e-12
FILL_COLUMNS = (
    "id", "instance_id", "symbol", "side", "quantity", "price", "fee_quote", "event_time",
    "client_order_id", "intent_id",
)  # fmt: skip
ORDER_COLUMNS = (
    "client_order_id", "intent_id", "role", "quantity", "filled_quantity", "state", "attempt",
)  # fmt: skip
INTENT_COLUMNS = (
    "intent_id", "instance_id", "symbol", "timeframe", "bar_ts", "decided_at", "action",
    "notional", "reference_price", "status", "status_reason", "order_type",
)  # fmt: skip


@dataclass
class LiveTrade:
    instance: str
    symbol: str
    entry_intent: str | None
    signal_bar: datetime | None
    entry_time: datetime
    entry_price: float = 0.0
    quantity: float = 0.0
    entry_value: float = 0.0
    entry_fee: float = 0.0
    entry_lag_seconds: float | None = None
    entry_partial: bool = False
    entry_limit: bool = False  # a limit entry (fills after the bar that decided it)
    exit_price: float | None = None
    exit_value: float = 0.0
    exit_fee: float = 0.0
    exit_quantity: float = 0.0
    exit_role: str | None = None
    exit_signal_bar: datetime | None = None
    exit_lag_seconds: float | None = None
    exit_time: datetime | None = None
    exit_partial: bool = False
    fees_unvalued: int = 0
    order_ids: set[str] = field(default_factory=set)

    @property
    def closed(self) -> bool:
        return self.exit_time is not None and self.quantity - self.exit_quantity <= QTY_EPSILON

    @property
    def fees(self) -> float:
        return self.entry_fee + self.exit_fee

    @property
    def pnl(self) -> float | None:
        """Net realized P&L of a closed trade: exit value less every fee less entry value."""
        if not self.closed:
            return None
        return self.exit_value - self.exit_fee - (self.entry_value + self.entry_fee)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the ledger's {name} lack the column(s) {missing}")


def _number(value: object, what: str) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} is not a number: {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{what} is not a finite number: {value!r}")
    return out


def _fee(value: object) -> tuple[float, bool]:
    """A fill's fee in quote, and whether it had none (NULL: unvalued)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0, True
    return _number(value, "fee_quote"), False


Row = dict[str, Any]


def _text(value: object) -> str | None:
    """A text cell, None when empty (NULL comes back as None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    return str(value)


def _lag(at: datetime, intent: Row | None) -> float | None:
    if intent is None:
        return None
    closed = pd.Timestamp(intent["bar_ts"]) + timeframe_delta(str(intent["timeframe"]))
    return (pd.Timestamp(at) - closed).total_seconds()


def live_trades(
    fills: pd.DataFrame, orders: pd.DataFrame, intents: pd.DataFrame
) -> list[LiveTrade]:
    """Every round trip of the fills (oldest first), open ones included. Fills without an
    order of ours (external trades) are skipped; a sell while flat is skipped too."""
    _require(fills, FILL_COLUMNS, "fills")
    _require(orders, ORDER_COLUMNS, "orders")
    _require(intents, INTENT_COLUMNS, "intents")
    # plain dicts: iterrows would build a Series per row (seconds for a year of fills)
    order_of = {str(o["client_order_id"]): o for o in orders.to_dict("records")}
    intent_of = {str(i["intent_id"]): i for i in intents.to_dict("records")}
    open_trades: dict[tuple[str, str], LiveTrade] = {}
    done: list[LiveTrade] = []
    for fill in fills.sort_values("id").to_dict("records"):
        order = order_of.get(str(fill["client_order_id"]))
        if order is None:
            continue
        instance = _text(fill["instance_id"]) or "default"
        key = (instance, str(fill["symbol"]))
        qty = _number(fill["quantity"], f"fill {fill['id']} quantity")
        price = _number(fill["price"], f"fill {fill['id']} price")
        if qty <= 0 or price <= 0:
            raise ValueError(f"fill {fill['id']}: quantity and price must be > 0")
        fee, unvalued = _fee(fill["fee_quote"])
        at = pd.Timestamp(fill["event_time"]).to_pydatetime()
        intent_id = _text(fill["intent_id"])
        intent = intent_of.get(intent_id) if intent_id else None
        trade = open_trades.get(key)
        if fill["side"] == "buy":
            if trade is None:
                trade = LiveTrade(
                    instance,
                    key[1],
                    intent_id,
                    pd.Timestamp(intent["bar_ts"]).to_pydatetime() if intent is not None else None,
                    at,
                    entry_lag_seconds=_lag(at, intent),
                    entry_limit=intent is not None and intent.get("order_type") == "limit",
                )
                open_trades[key] = trade
            trade.entry_value += qty * price
            trade.quantity += qty
            trade.entry_fee += fee
            trade.entry_price = trade.entry_value / trade.quantity
            trade.entry_partial |= _partial(order)
        elif trade is not None:
            trade.exit_value += qty * price
            trade.exit_quantity += qty
            trade.exit_fee += fee
            trade.exit_price = trade.exit_value / trade.exit_quantity
            trade.exit_partial |= _partial(order)
            if trade.exit_role is None:
                trade.exit_role = str(order["role"])
                if intent is not None and intent["action"] == "close":
                    trade.exit_signal_bar = pd.Timestamp(intent["bar_ts"]).to_pydatetime()
                    trade.exit_lag_seconds = _lag(at, intent)
            trade.exit_time = at
        else:
            continue
        trade.fees_unvalued += int(unvalued)
        trade.order_ids.add(str(fill["client_order_id"]))
        if trade.closed:
            done.append(open_trades.pop(key))
    return sorted([*done, *open_trades.values()], key=lambda t: t.entry_time)


def _partial(order: Row) -> bool:
    """An order that filled only part of its quantity, or a repriced attempt (the first
    attempt filled part of the quantity before it was canceled and placed again)."""
    quantity = float(order["quantity"] or 0.0)
    filled = float(order["filled_quantity"] or 0.0)
    return int(order["attempt"] or 0) > 0 or filled < quantity * (1 - 1e-9)


def in_window(trades: list[LiveTrade], start: datetime, end: datetime) -> list[LiveTrade]:
    """The trades decided in ``[start, end)``: by their signal bar, else their first fill."""
    return [t for t in trades if start <= (t.signal_bar or t.entry_time) < end]
