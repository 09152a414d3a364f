"""Fills: what the exchange says traded, each recorded once.

A fill is known by its exchange, symbol and trade id: seeing it again (a retry, a restart,
reconciliation) records nothing. A new fill of one of our orders moves its position and cash
(``Portfolio.apply_fill``) in the same transaction; a fill of an order we did not place is
kept without moving anything.

Each fill row keeps its fee valued in quote (``fee_quote``). A fee in a third currency (BNB)
with no usable ``fee_price`` is never taken for quote: the fill is recorded and applied, its
``fee_quote`` stays NULL with the reason in ``fee_issue``, and the audit log says so. A fill
the accounting core refuses (NaN quantity, negative fee, unknown side) raises
``AccountingError`` naming the field, and nothing of it is recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from executor import schema
from executor.ledger.db import LedgerDB, insert
from executor.ledger.portfolio import Portfolio, value_fee
from executor.records import Fill, OrderRecord


class FillStore:
    def __init__(self, db: LedgerDB, portfolio: Portfolio):
        self.db = db
        self.portfolio = portfolio

    def record_fills(self, fills: Iterable[Fill], *, applied: bool = True) -> int:
        """Record fills not seen before (by exchange, symbol and trade id); returns how many
        were new.

        ``applied=False`` keeps fills of external orders without moving our positions.
        """
        with self.db.transaction() as conn:
            return sum(self.record_fill(conn, fill, applied=applied) for fill in fills)

    def record_fill(
        self, conn: Connection, fill: Fill, *, applied: bool, order: OrderRecord | None = None
    ) -> bool:
        """Record one fill in the caller's transaction (the order fills in what it lacks);
        False if it was already known."""
        fee_quote, fee_issue = value_fee(fill)
        values = {
            **fill.__dict__,
            "fee_quote": fee_quote,
            "fee_issue": fee_issue,
            # an unusable price (NaN, <= 0) is named in fee_issue, not stored
            "fee_price": fill.fee_price if fee_issue is None else None,
            "recorded_at": self.db.now(),
            "mode": self.db.mode,
            "applied": applied,
        }
        if order is not None:
            values["client_order_id"] = fill.client_order_id or order.client_order_id
            values["exchange_order_id"] = fill.exchange_order_id or order.exchange_order_id
            values["intent_id"] = fill.intent_id or order.intent_id
            values["strategy"] = fill.strategy or order.strategy
            values["instance_id"] = fill.instance_id or order.instance_id
        stmt = (
            insert(conn, schema.fills)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["exchange", "symbol", "trade_id"])
            .returning(schema.fills.c.id)
        )
        if conn.execute(stmt).first() is None:
            return False
        if applied:
            self.portfolio.apply_fill(
                conn,
                dataclasses.replace(fill, instance_id=values["instance_id"]),
                entry_intent_id=values["intent_id"],
                strategy=values["strategy"],
                fee_valued=fee_issue is None,
            )
        if fee_issue is not None:
            self.portfolio.audit.record(
                conn,
                "ledger",
                "fee_unvalued",
                f"{fill.exchange}:{fill.symbol}",
                {
                    "trade_id": fill.trade_id,
                    "fee": fill.fee,
                    "fee_currency": fill.fee_currency,
                    "reason": fee_issue,
                },
            )
        return True

    def fills_since(
        self, since: datetime | None = None, *, after_id: int | None = None
    ) -> list[Fill]:
        """Fills with ``event_time >= since`` (and row id > ``after_id``), in recorded order."""
        t = schema.fills
        query = sa.select(t).order_by(t.c.id)
        if since is not None:
            query = query.where(t.c.event_time >= since)
        if after_id is not None:
            query = query.where(t.c.id > after_id)
        with self.db.transaction() as conn:
            return [_fill_from_row(r) for r in conn.execute(query)]

    def fee_issues(self) -> list[dict[str, Any]]:
        """Fills whose fee could not be valued in quote, with the reason, oldest first."""
        t = schema.fills
        query = (
            sa.select(t.c.exchange, t.c.symbol, t.c.trade_id, t.c.fee, t.c.fee_currency,
                      t.c.fee_issue)
            .where(t.c.fee_issue.is_not(None))
            .order_by(t.c.id)
        )  # fmt: skip
        with self.db.transaction() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def fill_count(self) -> int:
        with self.db.transaction() as conn:
            count = sa.select(sa.func.count()).select_from(schema.fills)
            return int(conn.execute(count).scalar_one())

    def known_trade_ids(self, exchange: str, symbol: str, trade_ids: Iterable[str]) -> set[str]:
        ids = list(trade_ids)
        if not ids:
            return set()
        t = schema.fills
        with self.db.transaction() as conn:
            rows = conn.execute(
                sa.select(t.c.trade_id).where(
                    t.c.exchange == exchange, t.c.symbol == symbol, t.c.trade_id.in_(ids)
                )
            )
            return {r[0] for r in rows}


def _fill_from_row(row: Any) -> Fill:
    m = row._mapping
    return Fill(
        exchange=m["exchange"],
        trade_id=m["trade_id"],
        symbol=m["symbol"],
        side=m["side"],
        quantity=m["quantity"],
        price=m["price"],
        fee=m["fee"],
        fee_currency=m["fee_currency"],
        liquidity=m["liquidity"],
        event_time=m["event_time"],
        client_order_id=m["client_order_id"],
        exchange_order_id=m["exchange_order_id"],
        intent_id=m["intent_id"],
        strategy=m["strategy"],
        fee_price=m["fee_price"],
        instance_id=m["instance_id"],
    )
