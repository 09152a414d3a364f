"""Orders: the ones we placed and the ones found on the exchange, with every state change.

An order moves only along the state machine (``executor.orders.check_transition``); each
change is one row in ``order_events``. ``apply_order_update`` is the one place an exchange's
answer enters the ledger: the order's new state, its new fills (and the position and cash
they move) and, once none of its orders is live, its intent's DONE commit together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from executor import schema
from executor.ledger.audit import AuditLog
from executor.ledger.db import LedgerDB, insert
from executor.ledger.fills import FillStore
from executor.ledger.intents import IntentStore
from executor.orders import LIVE_STATES, TERMINAL_STATES, OrderState, check_transition
from executor.records import Fill, NewOrder, OrderRecord, OrderUpdate

# Roles of the orders that carry out an intent (protective exits and external orders do not).
INTENT_ROLES: tuple[str, ...] = ("entry", "exit")
_LIVE = [s.value for s in LIVE_STATES]


class OrderStore:
    def __init__(self, db: LedgerDB, audit: AuditLog, intents: IntentStore, fills: FillStore):
        self.db = db
        self.audit = audit
        self.intents = intents
        self.fills = fills

    def create_order(
        self,
        order: NewOrder,
        *,
        accept_intent: bool = False,
        reason: str | None = None,
        decision: dict[str, Any] | None = None,
    ) -> OrderRecord:
        """Insert an order as PENDING_SUBMIT (and mark its intent ACCEPTED) in one transaction;
        ``decision`` (the risk protocol's reasons) is audited in it as ``entry_decision``."""
        now = self.db.now()
        values = {
            **order.__dict__,
            "state": OrderState.PENDING_SUBMIT.value,
            "filled_quantity": 0.0,
            "fee": 0.0,
            "mode": self.db.mode,
            "lookups": 0,
            "created_at": now,
            "updated_at": now,
        }
        with self.db.transaction() as conn:
            new_id = conn.execute(
                schema.orders.insert().values(**values).returning(schema.orders.c.id)
            ).scalar_one()
            self._order_event(
                conn,
                order.client_order_id,
                OrderState.PENDING_SUBMIT,
                0.0,
                None,
                0.0,
                order.reason,
                now,
            )
            if accept_intent and order.intent_id:
                self.intents.write_intent_status(conn, order.intent_id, "ACCEPTED", reason)
            if decision is not None:
                self.audit.record(conn, "protocol", "entry_decision", order.intent_id, decision)
        return OrderRecord(
            id=new_id,
            **{**values, "state": OrderState.PENDING_SUBMIT},
            exchange_order_id=None,
            average_price=None,
            fee_currency=None,
            submitted_at=None,
        )

    def order(self, client_order_id: str) -> OrderRecord | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                sa.select(schema.orders).where(schema.orders.c.client_order_id == client_order_id)
            ).first()
        return _order_from_row(row) if row else None

    def _order(self, conn: Connection, client_order_id: str) -> OrderRecord:
        row = conn.execute(
            sa.select(schema.orders).where(schema.orders.c.client_order_id == client_order_id)
        ).one()
        return _order_from_row(row)

    def order_by_exchange_id(self, exchange: str, exchange_order_id: str) -> OrderRecord | None:
        t = schema.orders
        with self.db.transaction() as conn:
            row = conn.execute(
                sa.select(t).where(
                    t.c.exchange == exchange, t.c.exchange_order_id == exchange_order_id
                )
            ).first()
        return _order_from_row(row) if row else None

    def orders(
        self,
        states: Iterable[OrderState | str] | None = None,
        *,
        symbol: str | None = None,
        intent_id: str | None = None,
    ) -> list[OrderRecord]:
        t = schema.orders
        query = sa.select(t).order_by(t.c.id)
        if states is not None:
            query = query.where(t.c.state.in_([OrderState(s).value for s in states]))
        if symbol is not None:
            query = query.where(t.c.symbol == symbol)
        if intent_id is not None:
            query = query.where(t.c.intent_id == intent_id)
        with self.db.transaction() as conn:
            return [_order_from_row(r) for r in conn.execute(query)]

    def live_orders(self) -> list[OrderRecord]:
        return self.orders(LIVE_STATES)

    def last_filled_sell(self, symbol: str, instance: str) -> OrderRecord | None:
        """The latest filled sell of ``symbol`` by ``instance`` (by fill time, then id): one
        indexed query, however long the ledger's history."""
        t = schema.orders
        mine = t.c.instance_id == instance
        if instance == "default":  # rows from before instances carry none
            mine = sa.or_(mine, t.c.instance_id.is_(None))
        query = (
            sa.select(t)
            .where(
                t.c.state == OrderState.FILLED.value,
                t.c.symbol == symbol,
                t.c.side == "sell",
                mine,
            )
            .order_by(t.c.updated_at.desc(), t.c.id.desc())
            .limit(1)
        )
        with self.db.transaction() as conn:
            row = conn.execute(query).first()
        return _order_from_row(row) if row else None

    def note_lookup_miss(self, client_order_id: str) -> int:
        """Count one "order not found" answer for an in-flight order; return the new count."""
        with self.db.transaction() as conn:
            conn.execute(
                schema.orders.update()
                .where(schema.orders.c.client_order_id == client_order_id)
                .values(lookups=schema.orders.c.lookups + 1, updated_at=self.db.now())
            )
            return self._order(conn, client_order_id).lookups

    def apply_order_update(
        self, client_order_id: str, update: OrderUpdate, fills: Iterable[Fill] = ()
    ) -> OrderRecord:
        """Move an order to what the exchange reports, with its new fills, in one transaction.

        Fills already in the ledger (same exchange, symbol and trade id) are ignored. An
        illegal state change raises ``IllegalTransition`` and nothing is written.
        """
        now = self.db.now()
        with self.db.transaction() as conn:
            current = self._order(conn, client_order_id)
            new_state = check_transition(current.state, update.state)
            for fill in fills:
                self.fills.record_fill(conn, fill, applied=True, order=current)
            changes: dict[str, Any] = {"state": new_state.value, "updated_at": now}
            if current.state == OrderState.PENDING_SUBMIT and current.submitted_at is None:
                changes["submitted_at"] = now
            for name in ("exchange_order_id", "average_price", "fee_currency", "reason"):
                value = getattr(update, name)
                if value is not None:
                    changes[name] = value
            if update.filled_quantity is not None:
                changes["filled_quantity"] = max(update.filled_quantity, current.filled_quantity)
            if update.fee is not None:
                changes["fee"] = update.fee
            conn.execute(
                schema.orders.update()
                .where(schema.orders.c.client_order_id == client_order_id)
                .values(**changes)
            )
            after = dataclasses.replace(current, **{**changes, "state": new_state})
            if (
                after.state != current.state
                or after.filled_quantity != current.filled_quantity
                or after.reason != current.reason
            ):
                self._order_event(
                    conn,
                    client_order_id,
                    after.state,
                    after.filled_quantity,
                    after.average_price,
                    after.fee,
                    after.reason,
                    now,
                )
            # Protective exits carry their entry's intent id for the journal, but do not
            # settle it: only the intent's own entry/exit orders do.
            if after.state in TERMINAL_STATES and after.intent_id and after.role in INTENT_ROLES:
                self._settle_intent(conn, after.intent_id, after)
            return after

    def _settle_intent(self, conn: Connection, intent_id: str, order: OrderRecord) -> None:
        """An intent is DONE once none of its orders is live (a reprice may still follow)."""
        o = schema.orders.c
        live = conn.execute(
            sa.select(sa.func.count()).where(o.intent_id == intent_id, o.state.in_(_LIVE))
        ).scalar()
        if not live:
            reason = f"last order {order.client_order_id} {order.state}"
            if order.reason:
                reason += f": {order.reason}"
            self.intents.write_intent_status(conn, intent_id, "DONE", reason)

    def _order_event(
        self,
        conn: Connection,
        client_order_id: str,
        state: OrderState,
        filled: float,
        avg_price: float | None,
        fee: float,
        reason: str | None,
        at: datetime,
    ) -> None:
        conn.execute(
            schema.order_events.insert().values(
                client_order_id=client_order_id,
                state=state.value,
                filled_quantity=filled,
                average_price=avg_price,
                fee=fee,
                reason=reason,
                event_time=at,
            )
        )

    def record_external_order(self, order: NewOrder, update: OrderUpdate) -> bool:
        """Keep an order found on the exchange that we did not place. False if already known."""
        now = self.db.now()
        with self.db.transaction() as conn:
            values = {
                **order.__dict__,
                "role": "external",
                "state": update.state.value,
                "exchange_order_id": update.exchange_order_id,
                "filled_quantity": update.filled_quantity or 0.0,
                "average_price": update.average_price,
                "fee": update.fee or 0.0,
                "fee_currency": update.fee_currency,
                "mode": self.db.mode,
                "lookups": 0,
                "created_at": now,
                "updated_at": now,
            }
            stmt = (
                insert(conn, schema.orders)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["client_order_id"])
                .returning(schema.orders.c.id)
            )
            if conn.execute(stmt).first() is None:
                return False
            self._order_event(
                conn,
                order.client_order_id,
                update.state,
                values["filled_quantity"],
                update.average_price,
                values["fee"],
                order.reason,
                now,
            )
            self.audit.record(
                conn,
                "reconciliation",
                "external_order",
                order.client_order_id,
                {
                    "symbol": order.symbol,
                    "side": order.side,
                    "quantity": order.quantity,
                    "state": update.state.value,
                },
            )
            return True

    def live_entry_symbols(self, conn: Connection) -> frozenset[str]:
        """Symbols with a live entry order, in the caller's transaction."""
        o = schema.orders.c
        entries = conn.execute(
            sa.select(o.symbol).where(o.role == "entry", o.state.in_(_LIVE)).distinct()
        )
        return frozenset(entries.scalars().all())

    def reserved_for_buys(self, conn: Connection, exchange: str, quote: str) -> float:
        """Quote value still committed to working limit buys on ``exchange`` (remaining
        quantity x limit price), in the caller's transaction: an exchange locks it, so the
        risk gate must not spend it twice."""
        reserved = conn.execute(reserved_for_buys_query(exchange, quote)).scalar_one()
        return max(0.0, float(reserved))

    def trades_since(self, conn: Connection, day_start: datetime, cap: int) -> int:
        """Entry and exit orders placed since ``day_start`` (no reprices, nothing the exchange
        rejected or we gave up on), counted up to ``cap``, in the caller's transaction."""
        return int(conn.execute(trades_since_query(day_start, cap)).scalar_one())


def reserved_for_buys_query(exchange: str, quote: str) -> sa.Select[Any]:
    """The SELECT behind ``reserved_for_buys`` (one value, 0.0 when nothing works), also
    folded into the risk gate's single read. The quote is a bound LIKE pattern."""
    o = schema.orders.c
    remaining = (o.quantity - o.filled_quantity) * o.price
    return sa.select(sa.func.coalesce(sa.func.sum(remaining), 0.0)).where(
        o.exchange == exchange,
        o.side == "buy",
        o.role == "entry",
        o.state.in_(_LIVE),
        o.price.is_not(None),
        o.symbol.like(f"%/{quote}"),
    )


def trades_since_query(day_start: datetime, cap: int) -> sa.Select[Any]:
    """The SELECT behind ``trades_since`` (a count capped at ``cap``)."""
    o = schema.orders.c
    todays = (
        sa.select(o.id)
        .where(
            o.created_at >= day_start,
            o.role.in_(INTENT_ROLES),
            o.attempt == 0,
            o.state.not_in([OrderState.REJECTED.value, OrderState.GIVEN_UP.value]),
        )
        .limit(cap)
        .subquery()
    )
    return sa.select(sa.func.count()).select_from(todays)


def _order_from_row(row: Any) -> OrderRecord:
    values = dict(row._mapping)
    values["state"] = OrderState(values["state"])
    return OrderRecord(**values)
