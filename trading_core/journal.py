"""Trade journal accounting from fills: positions, average cost, realized P&L, round trips.

Average-cost method, per (mode, exchange, symbol): a fill that grows the position moves the
average cost; a fill that shrinks it realizes ``(price - average cost) * quantity`` (sign
flipped for shorts); a fill that crosses zero closes the old position and opens a new one at
the fill price (the fill is split in two rows). Fees are kept apart from gross P&L:
``net_pnl = realized_pnl - fee`` (quote currency). A round trip runs from flat back to flat.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

JOURNAL_COLUMNS = [
    "sequence",
    "position_before",
    "position_after",
    "average_cost_after",
    "realized_pnl",
    "net_pnl",
    "role",
    "round_trip",
]

_EPSILON = 1e-12


def _book_keys(frame: pd.DataFrame) -> list[str]:
    """Positions are kept per (mode, exchange, symbol): paper never mixes with live."""
    return [c for c in ("mode", "exchange", "symbol") if c in frame.columns]


def _sorted(fills: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("event_time", "trade_id") if c in fills.columns]
    return fills.sort_values(keys, kind="mergesort").reset_index(drop=True)


def build_journal(fills: pd.DataFrame) -> pd.DataFrame:
    """Every fill with the position before/after it, average cost, realized and net P&L.

    ``fills`` needs exchange, symbol, side ('buy'|'sell'), quantity (> 0), price, fee and
    event_time. ``role`` is open | add | reduce | close; ``round_trip`` numbers the
    flat-to-flat cycles of each (mode, exchange, symbol) from 1; ``sequence`` orders rows.
    A fill that crosses zero is split into a closing row and an opening row (quantity and fee
    prorated), so every row belongs to exactly one round trip.
    """
    if fills.empty:
        out = fills.copy()
        for column in JOURNAL_COLUMNS:
            out[column] = pd.Series(dtype="object" if column == "role" else "float64")
        return out
    rows: list[dict] = []
    keys = _book_keys(fills)
    state: dict[tuple, tuple[float, float, int]] = {}
    for record in _sorted(fills).to_dict("records"):
        key = tuple(record[k] for k in keys)
        position, average, trip = state.get(key, (0.0, 0.0, 0))
        direction = 1.0 if record["side"] == "buy" else -1.0
        remaining = float(record["quantity"])
        fee = float(record.get("fee") or 0.0)
        while remaining > _EPSILON:
            part = dict(record)
            if abs(position) < _EPSILON:
                quantity, role, pnl = remaining, "open", 0.0
                trip += 1
                average = record["price"]
            elif position * direction > 0:
                quantity, role, pnl = remaining, "add", 0.0
                average = (average * abs(position) + record["price"] * quantity) / (
                    abs(position) + quantity
                )
            else:
                quantity = min(remaining, abs(position))
                pnl = (record["price"] - average) * quantity * np.sign(position)
                role = "close" if quantity >= abs(position) - _EPSILON else "reduce"
            new_position = position + direction * quantity
            if abs(new_position) < _EPSILON:
                new_position, new_average = 0.0, 0.0
            else:
                new_average = average
            share = quantity / float(record["quantity"])
            part.update(
                sequence=len(rows),
                quantity=quantity,
                fee=fee * share,
                position_before=position,
                position_after=new_position,
                average_cost_after=new_average,
                realized_pnl=pnl,
                net_pnl=pnl - fee * share,
                role=role,
                round_trip=trip,
            )
            rows.append(part)
            position, average, remaining = new_position, new_average, remaining - quantity
        state[key] = (position, average, trip)
    return pd.DataFrame(rows)


def round_trips(journal: pd.DataFrame) -> pd.DataFrame:
    """One row per round trip (closed or still open) with its P&L net of every fee in it."""
    keys = _book_keys(journal)
    columns = [
        *keys, "round_trip", "strategy", "opened_at", "closed_at", "fills",
        "entry_quantity", "realized_pnl", "fees", "net_pnl", "is_closed",
    ]  # fmt: skip
    if journal.empty:
        return pd.DataFrame(columns=columns)
    frame = journal.copy()
    if "strategy" not in frame.columns:
        frame["strategy"] = None
    frame["closing"] = frame["role"] == "close"
    grouped = frame.groupby([*keys, "round_trip"], sort=True, dropna=False)
    trips = grouped.agg(
        strategy=("strategy", "first"),
        opened_at=("event_time", "min"),
        last_fill_at=("event_time", "max"),
        fills=("quantity", "size"),
        entry_quantity=("quantity", "first"),
        realized_pnl=("realized_pnl", "sum"),
        fees=("fee", "sum"),
        is_closed=("closing", "any"),
    ).reset_index()
    trips["net_pnl"] = trips["realized_pnl"] - trips["fees"]
    trips["closed_at"] = trips["last_fill_at"].where(trips["is_closed"])
    return trips[columns]
