"""Dust: a holding below its market's minimum order, which no order can sell on its own.

After a full exit whose buy paid its fee in the base asset (Binance spot), the lot-step
floor leaves a remainder; counted as an open position it would block a re-entry. The
ledger keeps each market's minimum order (``min_quantity`` and the lot step) in
``ledger_meta`` under ``market_minimums`` (the executor writes them from its markets), so
every process that reads the ledger (the executor, the code location) tells dust from a
position the same way. Pure helpers plus the read and write of that one row.
"""

from __future__ import annotations

import json
import math
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from executor import schema
from executor.records import QTY_EPSILON
from executor.sizing import MarketRules, floor_quantity

MINIMUMS_KEY = "market_minimums"  # ledger_meta: {"exchange symbol": [min_quantity, step]}


def is_dust(quantity: float, rules: MarketRules | None) -> bool:
    """A non-zero holding that no order can sell: floored to the lot step it is zero or
    below the market's ``min_quantity``. Flat (``QTY_EPSILON``) is not dust; without rules
    nothing is."""
    held = abs(quantity)
    if held <= QTY_EPSILON or rules is None:
        return False
    sellable = floor_quantity(held, rules)
    return sellable <= 0 or sellable < rules.min_quantity


def minimum_key(exchange: str, symbol: str) -> str:
    return f"{exchange} {symbol}"


def read_minimums(conn: Connection) -> dict[str, MarketRules]:
    """The markets' minimum orders stored in the ledger, by ``minimum_key`` (none: {})."""
    return parse_minimums(conn.execute(minimums_query()).scalar())


def minimums_query() -> sa.Select[tuple[str]]:
    """The SELECT of the stored minimums' JSON text (no row: no value)."""
    t = schema.ledger_meta
    return sa.select(t.c.value).where(t.c.key == MINIMUMS_KEY)


def parse_minimums(text: str | None) -> dict[str, MarketRules]:
    """The minimums stored as ``text`` (``read_minimums``' JSON), by ``minimum_key``."""
    if not text:
        return {}
    out: dict[str, MarketRules] = {}
    for key, (min_quantity, step) in json.loads(text).items():
        symbol = key.split(" ", 1)[-1]
        out[key] = MarketRules(symbol, amount_step=step, min_quantity=min_quantity)
    return out


def _checked(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def write_minimum(
    conn: Connection,
    exchange: str,
    symbol: str,
    min_quantity: float,
    amount_step: float | None,
    now: datetime,
) -> bool:
    """Store one market's minimum order in the caller's transaction; False when it was
    already stored as given. Raises ``ValueError`` naming the field for a negative, NaN,
    infinite or non-numeric value."""
    entry = [
        _checked("min_quantity", min_quantity),
        None if amount_step is None else _checked("amount_step", amount_step) or None,
    ]
    t = schema.ledger_meta
    text = conn.execute(sa.select(t.c.value).where(t.c.key == MINIMUMS_KEY)).scalar()
    stored = json.loads(text) if text else {}
    key = minimum_key(exchange, symbol)
    if stored.get(key) == entry:
        return False
    stored[key] = entry
    value = json.dumps(stored, sort_keys=True)
    if text is None:
        conn.execute(t.insert().values(key=MINIMUMS_KEY, value=value, updated_at=now))
    else:
        conn.execute(t.update().where(t.c.key == MINIMUMS_KEY).values(value=value, updated_at=now))
    return True
