"""What the bot says: plain-text answers built from the executor's status
(``executor.control.status``), its positions and its fills. Pure functions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from executor.records import Fill, Position


def _money(value: float | None, quote: str) -> str:
    return "n/a" if value is None else f"{value:,.2f} {quote}"


def status_text(status: dict[str, Any], now: datetime) -> str:
    account = status.get("account") or {}
    quote = account.get("quote", "")
    health = status.get("health") or {}
    beat = health.get("heartbeat")
    if beat:
        age = (now - datetime.fromisoformat(str(beat)).replace(tzinfo=None)).total_seconds()
        alive = f"heartbeat {age:.0f} s ago"
    else:
        alive = "no health file (is the executor running?)"
    lines = [
        f"State: {status.get('trading_state')} ({status.get('reason') or 'no reason'})",
        f"Since: {status.get('since')} by {status.get('by')}",
        f"Equity: {_money(account.get('equity'), quote)}; "
        f"open positions: {account.get('open_positions', 0)}",
        f"Executor: {alive}",
    ]
    overrides = status.get("overrides") or {}
    risk = overrides.get("risk")
    if risk:
        what = f"x{risk['scale']:g}" if risk.get("scale") is not None else (
            f"{risk['risk_per_trade']:.2%} per trade"
        )  # fmt: skip
        lines.append(f"Risk override: {what} by {risk['by']}")
    for name, label in (("blacklist", "Blacklist"), ("paused_instances", "Paused instances")):
        if overrides.get(name):
            lines.append(f"{label}: " + ", ".join(sorted(overrides[name])))
    pending = status.get("pending_commands") or []
    if pending:
        lines.append("Pending: " + ", ".join(f"{c['command']} (#{c['id']})" for c in pending))
    return "\n".join(lines)


def unrealized(position: Position) -> float | None:
    if position.last_price is None:
        return None
    return (position.last_price - position.avg_entry_price) * position.quantity


def positions_text(positions: Sequence[Position], quote: str) -> str:
    if not positions:
        return "No open positions."
    lines = []
    for p in positions:
        stops = f"SL {p.stop_loss or '-'} TP {p.take_profit or '-'}"
        lines.append(
            f"{p.symbol} ({p.exchange}): {p.quantity:g} @ {p.avg_entry_price:g}, last "
            f"{p.last_price if p.last_price is not None else 'n/a'}, unrealized "
            f"{_money(unrealized(p), quote)}, {stops}"
        )
    return "\n".join(lines)


def balance_text(account: dict[str, Any]) -> str:
    quote = account.get("quote", "")
    return "\n".join(
        [
            f"Cash: {_money(account.get('cash'), quote)}",
            f"Positions: {_money(account.get('positions_value'), quote)}",
            f"Equity: {_money(account.get('equity'), quote)}",
        ]
    )


def profit_text(
    positions: Sequence[Position], equity: float, starting_cash: float, quote: str
) -> str:
    realized = sum(p.realized_pnl_net for p in positions)
    fees = sum(p.fees_quote for p in positions)
    marks = [unrealized(p) for p in positions if p.quantity > 0]
    open_pnl = sum(m for m in marks if m is not None)
    unpriced = sum(1 for m in marks if m is None)
    change = equity - starting_cash
    pct = 100 * change / starting_cash if starting_cash else float("nan")
    lines = [
        f"Realized (after fees): {_money(realized, quote)}; fees paid {_money(fees, quote)}",
        f"Unrealized: {_money(open_pnl, quote)}"
        + (f" ({unpriced} position(s) without a price)" if unpriced else ""),
        f"Equity {_money(equity, quote)} vs start {_money(starting_cash, quote)}: "
        f"{change:+,.2f} {quote} ({pct:+.2f} %)",
    ]
    return "\n".join(lines)


def daily_rows(fills: Iterable[Fill], quote: str) -> dict[date, dict[str, float]]:
    """Per UTC day of ``event_time``: fills, bought and sold notional, fees paid in the quote
    currency, and the net cash flow (sold - bought - quote fees)."""
    days: dict[date, dict[str, float]] = defaultdict(
        lambda: {"fills": 0, "bought": 0.0, "sold": 0.0, "fees": 0.0}
    )
    for f in fills:
        row = days[f.event_time.date()]
        row["fills"] += 1
        row["bought" if f.side == "buy" else "sold"] += f.quantity * f.price
        if f.fee_currency in (None, quote):
            row["fees"] += f.fee
    for row in days.values():
        row["net"] = row["sold"] - row["bought"] - row["fees"]
    return dict(days)


def daily_text(rows: dict[date, dict[str, float]], first: date, last: date, quote: str) -> str:
    header = (
        f"Daily {first} .. {last} (UTC days; net = sold - bought - fees in {quote}, "
        "a cash flow, not a P&L)"
    )
    lines = [header]
    day = last
    while day >= first:
        row = rows.get(day)
        if row is None:
            lines.append(f"{day}: no fills")
        else:
            lines.append(
                f"{day}: {int(row['fills'])} fill(s), bought {row['bought']:,.2f}, sold "
                f"{row['sold']:,.2f}, fees {row['fees']:,.2f}, net {row['net']:+,.2f}"
            )
        day = date.fromordinal(day.toordinal() - 1)
    return "\n".join(lines)
