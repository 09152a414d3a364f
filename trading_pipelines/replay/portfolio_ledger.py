"""A portfolio replay's outcome read back from the ledger and its audit log only: one trade
row per position (the keys of the portfolio backtester's ``trades``), the protocol's events,
and each instance's equity (its allocated capital plus its P&L, as the protocol counts it).

Fees are in quote (the paper broker's default fee currency). A trade's ``pnl`` is net of its
entry and exit fees; while open, the P&L at the last mark before the exit fee (the
backtester's convention).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from executor.ledger import Ledger
from executor.orders import OrderState
from trading_core.config_portfolio import InstanceConfig

# The ledger order's role -> the backtester's exit reason.
EXIT_REASONS = {
    "exit": "signal",
    "stop_loss": "stop_loss",
    "take_profit": "take_profit",
    "trailing_stop": "trailing_stop",
    "preservation": "capital_preservation",
    "operator": "operator",
}
# Audit-only kinds the backtester has no counterpart for.
SKIPPED_KINDS = {"started"}


def iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def ledger_trades(
    ledger: Ledger, equity_before: dict[datetime, float] | None = None
) -> list[dict[str, Any]]:
    """One row per position, from the orders and fills; ``equity_before`` maps an instant to
    the account's equity before that instant's intents (``equity_at_entry``)."""
    orders = {o.client_order_id: o for o in ledger.orders()}
    marks = {(p.symbol, p.instance_id): p for p in ledger.positions()}
    rows: list[dict[str, Any]] = []
    open_rows: dict[tuple[str, str], dict[str, Any]] = {}
    for fill in ledger.fills_since(None):
        order = orders.get(fill.client_order_id or "")
        if order is None:
            continue
        key = (fill.instance_id or order.instance_id or "default", fill.symbol)
        if order.role == "entry":
            row = open_rows.get(key)
            if row is None:
                reasons = _protocol_reasons(order.reason)
                row = {
                    "instance": key[0], "symbol": fill.symbol, "entry_ts": iso(fill.event_time),
                    "exit_ts": None, "entry_price": None, "exit_price": None, "quantity": 0.0,
                    "entry_value": 0.0, "entry_fee": 0.0,
                    "equity_at_entry": (equity_before or {}).get(fill.event_time),
                    "tier": reasons.get("tier"), "size_multiplier": reasons.get("size_multiplier"),
                    "stop_price": None, "take_profit_price": None, "exit_reason": None,
                    "pnl": 0.0, "exits": [], "reasons": reasons, "_sold": 0.0, "_proceeds": 0.0,
                }  # fmt: skip
                open_rows[key] = row
                rows.append(row)
            row["quantity"] += fill.quantity
            row["entry_value"] += fill.quantity * fill.price
            row["entry_fee"] += fill.fee
            row["entry_price"] = row["entry_value"] / row["quantity"]
            continue
        row = open_rows.get(key)
        if row is None:
            continue
        reason = EXIT_REASONS.get(order.role, order.role)
        row["_sold"] += fill.quantity
        row["_proceeds"] += fill.quantity * fill.price - fill.fee
        row["exits"].append(
            {"ts": iso(fill.event_time), "price": fill.price, "quantity": fill.quantity,
             "fee": fill.fee, "reason": reason}
        )  # fmt: skip
        if row["_sold"] >= row["quantity"] * (1 - 1e-9) and order.state == OrderState.FILLED:
            row["exit_ts"] = iso(fill.event_time)
            row["exit_price"] = (row["_proceeds"] + sum(e["fee"] for e in row["exits"])) / row[
                "_sold"
            ]
            row["exit_reason"] = reason
            row["pnl"] = row["_proceeds"] - row["entry_value"] - row["entry_fee"]
            open_rows.pop(key)
    for key, row in open_rows.items():  # still open: marked at the last price
        mark = marks.get((key[1], key[0]))
        price = mark.mark_price if mark is not None else row["entry_price"]
        held = row["quantity"] - row["_sold"]
        row["pnl"] = row["_proceeds"] + held * price - row["entry_value"] - row["entry_fee"]
    for row in rows:
        del row["_sold"], row["_proceeds"]
    rows.sort(key=lambda t: (t["entry_ts"], t["instance"], t["symbol"]))
    return rows


def _protocol_reasons(reason: str | None) -> dict[str, Any]:
    """The protocol's reasons an entry order keeps (``protocol {json}``), else none."""
    text = reason or ""
    if not text.startswith("protocol {"):
        return {"risk": text} if text else {}
    try:
        parsed = json.loads(text.removeprefix("protocol "))
    except json.JSONDecodeError:
        return {"risk": text}
    return parsed if isinstance(parsed, dict) else {"risk": text}


def ledger_events(ledger: Ledger) -> list[dict[str, Any]]:
    """The protocol's events (``protocol_*`` audit entries) and the refused entries
    (``entry_decision`` entries naming the rule), in the order they happened."""
    entries = sorted(ledger.audit_entries(limit=10_000_000), key=lambda e: e["id"])
    events: list[dict[str, Any]] = []
    for entry in entries:
        details = entry["details"]
        if entry["event"].startswith("protocol_") and "kind" in details:
            if details["kind"] in SKIPPED_KINDS:
                continue
            events.append({k: details.get(k) for k in ("ts", "kind", "instance", "detail")})
        elif entry["event"] == "entry_decision" and details.get("refused_by"):
            detail = {k: v for k, v in details.items() if k != "instance"}
            events.append({"ts": iso(entry["at"]), "kind": "entry_refused",
                           "instance": details.get("instance"), "detail": detail})  # fmt: skip
    return events


def instance_equity(ledger: Ledger, inst: InstanceConfig, stored: Any) -> float:
    """The instance's allocated share of the protocol's starting capital plus its realized
    (since the protocol started) and unrealized P&L."""
    total = inst.allocation * stored.capital
    for p in ledger.positions():
        if p.instance_id != inst.id:
            continue
        key = f"{p.exchange}:{p.symbol}:{p.instance_id}"
        total += p.realized_pnl_net - stored.origin.get(key, 0.0)
        if p.quantity > 0:
            total += p.unrealized_pnl
    return total
