"""The ledger: the trading system of record (intents, orders, fills, positions, risk state,
operator commands, audit log, publish outbox).

SQLAlchemy Core over SQLite (default, ``Paths.ledger_url()``) or PostgreSQL (any URL, e.g.
``TRADING_LEDGER_URL``). Every state change is one transaction: an order update, its fills,
the position and cash they move, its state-change event and its intent's status commit
together or not at all, so a crash never leaves half a fill behind.

SQLite runs in WAL mode with a busy timeout, and every transaction starts with
``BEGIN IMMEDIATE``: the strategy asset writes intents from a Dagster run while the executor
runs, and taking the write lock up front makes the second writer wait instead of failing
with "database is locked" halfway through a transaction.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from executor import schema
from executor.intents import OrderIntent
from executor.migrations import upgrade
from executor.orders import LIVE_STATES, TERMINAL_STATES, OrderState, check_transition
from executor.records import (
    QTY_EPSILON,
    Account,
    Fill,
    NewOrder,
    OrderRecord,
    OrderUpdate,
    Position,
)
from executor.trading_state import TradingState
from trading_core.timeframes import utc_now

TRADING_STATES: tuple[TradingState, ...] = tuple(TradingState)
# NEW -> ACCEPTED -> DONE, or NEW -> one of the terminal refusals: REJECTED_BY_RISK (a rule
# said no), EXPIRED (too old or the price moved away), INVALID (malformed), FAILED (the
# executor could not handle it; the reason says why).
INTENT_STATUSES: tuple[str, ...] = (
    "NEW", "ACCEPTED", "REJECTED_BY_RISK", "EXPIRED", "INVALID", "FAILED", "DONE"
)  # fmt: skip
# Intent fields that make up its content: a second intent with the same id must match them.
_CONTENT_EXCLUDED = frozenset({"id", "status", "status_reason", "created_at", "updated_at"})
# The currency of the baseline row of an account that held nothing.
EMPTY_ACCOUNT = "*"
INTENT_ROLES: tuple[str, ...] = ("entry", "exit")
COMMANDS: tuple[str, ...] = ("pause", "resume", "close-all", "close-position", "halt")


@dataclass(frozen=True)
class IntentRecord:
    intent: OrderIntent
    status: str
    status_reason: str | None


class LedgerModeMismatch(RuntimeError):
    """The ledger belongs to another trading mode."""


@dataclass(frozen=True)
class IntentSubmission:
    """What became of one submitted intent: stored (accepted) or refused, and why."""

    intent_id: str
    accepted: bool
    reason: str


@dataclass(frozen=True)
class OperatorCommand:
    id: int
    command: str
    symbol: str | None
    who: str
    why: str
    issued_at: datetime
    applied_at: datetime | None
    result: str | None


@dataclass(frozen=True)
class RiskInputs:
    trading_state: TradingState
    cash: float
    equity: float
    positions: dict[str, Position]  # open positions on the executor's exchange
    live_entry_symbols: frozenset[str]
    trades_today: int  # entry and exit orders placed since the start of the day


@dataclass(frozen=True)
class RiskRecord:
    state: TradingState
    reason: str | None
    peak_equity: float | None
    updated_by: str
    updated_at: datetime


def _make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    database = sa.engine.make_url(url).database
    if database and database != ":memory:":
        _private_file(Path(database))
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of pysqlite's own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _private_file(path: Path) -> None:
    """The ledger (and its WAL and shared-memory files) readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file == path and not file.exists():
            file.touch(mode=0o600)
        if file.exists():
            file.chmod(0o600)


def _insert(conn: Connection, table: sa.Table) -> Any:
    """An INSERT that supports ON CONFLICT DO NOTHING on both backends."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _order_from_row(row: Any) -> OrderRecord:
    values = dict(row._mapping)
    values["state"] = OrderState(values["state"])
    return OrderRecord(**values)


def _position_from_row(row: Any) -> Position:
    return Position(**dict(row._mapping))


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
    )


def _intent_from_row(row: Any) -> IntentRecord:
    m = row._mapping
    intent = OrderIntent(
        intent_id=m["intent_id"],
        strategy=m["strategy"],
        exchange=m["exchange"],
        symbol=m["symbol"],
        timeframe=m["timeframe"],
        bar_ts=m["bar_ts"],
        decided_at=m["decided_at"],
        side=m["side"],
        action=m["action"],
        order_type=m["order_type"],
        notional=m["notional"],
        quantity=m["quantity"],
        limit_price=m["limit_price"],
        # Stored as 0.0 when the intent had none (a manual trade): no valid price is 0.
        reference_price=m["reference_price"] or None,
        stop_loss=m["stop_loss"],
        take_profit=m["take_profit"],
        trailing_stop_pct=m["trailing_stop_pct"],
        post_only=bool(m["post_only"]),
        reasons=json.loads(m["reasons"]),
    )
    return IntentRecord(intent, m["status"], m["status_reason"])


def _intent_row(intent: OrderIntent) -> dict[str, Any]:
    row = intent.to_row()
    row["reference_price"] = row.get("reference_price") or 0.0
    return row


def base_currency(symbol: str) -> str:
    return symbol.split("/", 1)[0]


def quote_currency(symbol: str) -> str:
    return symbol.split("/", 1)[1].split(":", 1)[0]


class Ledger:
    """The executor's database. Opening it creates or upgrades the schema."""

    def __init__(self, url: str, *, mode: str = "paper", clock: Callable[[], datetime] = utc_now):
        self.url = url
        self.mode = mode
        self._clock = clock
        self.engine = _make_engine(url)
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def claim_mode(self, mode: str) -> None:
        """Bind the ledger to one mode (paper, testnet or live) on first use.

        Paper cash and simulated fills must never mix with an exchange account's: a ledger
        used in one mode refuses another (``LedgerModeMismatch``); use another ledger URL.
        """
        t = schema.ledger_meta
        with self.transaction() as conn:
            row = conn.execute(sa.select(t.c.value).where(t.c.key == "mode")).first()
            if row is None:
                conn.execute(t.insert().values(key="mode", value=mode, updated_at=self.now()))
                self._audit(
                    conn,
                    "executor",
                    "ledger_mode_set",
                    mode,
                    {"url_scheme": self.url.split(":", 1)[0]},
                )
            elif row.value != mode:
                raise LedgerModeMismatch(
                    f"this ledger was used in {row.value} mode and cannot be used in {mode} "
                    f"mode (paper balances must never mix with an exchange account's); point "
                    "TRADING_LEDGER_URL (or TRADING_HOME) at a separate ledger for "
                    f"{mode} trading"
                )

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def now(self) -> datetime:
        return self._clock()

    # ----------------------------------------------------------------------------- intents

    def add_intents(self, intents: list[OrderIntent]) -> int:
        """Insert intents as NEW; returns how many were new. An identical intent already
        present is left alone; one with the same id and different content is refused and
        audited (see ``submit_intents``)."""
        return sum(
            1
            for result in self.submit_intents(intents, source="strategy")
            if result.accepted and result.reason == "new"
        )

    def submit_intents(
        self, intents: Sequence[OrderIntent], *, source: str = "cli"
    ) -> list[IntentSubmission]:
        """Store intents as NEW, one answer per intent, in one transaction.

        The same id with the same content is a harmless repeat (accepted, nothing stored);
        the same id with different content is refused and audited, never silently ignored.
        """
        if not intents:
            return []
        now = self.now()
        t = schema.intents
        results: list[IntentSubmission] = []
        new_ids: list[str] = []
        with self.transaction() as conn:
            for intent in intents:
                row = _intent_row(intent)
                stmt = (
                    _insert(conn, t)
                    .values(**row, status="NEW", created_at=now, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["intent_id"])
                    .returning(t.c.intent_id)
                )
                if conn.execute(stmt).first() is not None:
                    new_ids.append(intent.intent_id)
                    results.append(IntentSubmission(intent.intent_id, True, "new"))
                    continue
                stored = conn.execute(sa.select(t).where(t.c.intent_id == intent.intent_id)).one()
                differs = sorted(
                    k
                    for k, v in row.items()
                    if k not in _CONTENT_EXCLUDED and stored._mapping[k] != v
                )
                if not differs:
                    results.append(
                        IntentSubmission(
                            intent.intent_id, True, "duplicate of an existing identical intent"
                        )
                    )
                    continue
                reason = (
                    f"duplicate intent id {intent.intent_id} with different content "
                    f"({', '.join(differs)}); the stored intent stands"
                )
                self._audit(
                    conn,
                    source,
                    "intent_conflict",
                    intent.intent_id,
                    {"differs": differs, "refused": {k: row[k] for k in differs}},
                )
                results.append(IntentSubmission(intent.intent_id, False, reason))
            if new_ids:
                self._audit(conn, source, "intents_added", None, {"intent_ids": new_ids})
        return results

    def quarantine_intent(
        self, payload: str, reason: str, *, source: str, intent_id: str | None = None
    ) -> None:
        """Keep an input that could not become an intent, with its reason (and audit it)."""
        with self.transaction() as conn:
            self._quarantine(conn, payload, reason, source=source, intent_id=intent_id)

    def _quarantine(
        self, conn: Connection, payload: str, reason: str, *, source: str, intent_id: str | None
    ) -> None:
        conn.execute(
            schema.intent_quarantine.insert().values(
                intent_id=intent_id,
                source=source,
                payload=payload,
                reason=reason,
                received_at=self.now(),
            )
        )
        self._audit(conn, source, "intent_quarantined", intent_id, {"reason": reason})

    def quarantined_intents(self, limit: int = 100) -> list[dict[str, Any]]:
        t = schema.intent_quarantine
        with self.transaction() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    def intent(self, intent_id: str) -> IntentRecord | None:
        with self.transaction() as conn:
            row = conn.execute(
                sa.select(schema.intents).where(schema.intents.c.intent_id == intent_id)
            ).first()
        return _intent_from_row(row) if row else None

    def new_intents(self, limit: int = 100) -> list[IntentRecord]:
        """Intents the executor has not looked at yet, oldest first.

        A row that no longer reads as a valid intent (written by an older version, or by hand)
        is quarantined with its reason and marked INVALID: one broken row never stops the
        intents behind it.
        """
        t = schema.intents
        with self.transaction() as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.status == "NEW").order_by(t.c.id).limit(limit)
            ).all()
        good: list[IntentRecord] = []
        for row in rows:
            try:
                good.append(_intent_from_row(row))
            except (ValueError, TypeError, KeyError) as exc:
                reason = f"broken intent row in the ledger: {exc}"
                payload = json.dumps(dict(row._mapping), default=str, sort_keys=True)
                with self.transaction() as conn:
                    self._quarantine(
                        conn, payload, reason, source="ledger", intent_id=row.intent_id
                    )
                    self._set_intent_status(conn, row.intent_id, "INVALID", reason)
        return good

    def set_intent_status(self, intent_id: str, status: str, reason: str | None) -> None:
        if status not in INTENT_STATUSES:
            raise ValueError(f"intent status {status!r}; allowed: {INTENT_STATUSES}")
        with self.transaction() as conn:
            self._set_intent_status(conn, intent_id, status, reason)
            if status in ("REJECTED_BY_RISK", "EXPIRED", "INVALID", "FAILED"):
                event = "intent_rejected" if status == "REJECTED_BY_RISK" else "intent_refused"
                self._audit(conn, "risk", event, intent_id, {"status": status, "reason": reason})

    def _set_intent_status(
        self, conn: Connection, intent_id: str, status: str, reason: str | None
    ) -> None:
        conn.execute(
            schema.intents.update()
            .where(schema.intents.c.intent_id == intent_id)
            .values(status=status, status_reason=reason, updated_at=self.now())
        )

    def intent_counts(self) -> dict[str, int]:
        t = schema.intents
        with self.transaction() as conn:
            rows = conn.execute(sa.select(t.c.status, sa.func.count()).group_by(t.c.status))
            return {status: count for status, count in rows}

    # ------------------------------------------------------------------------------ orders

    def create_order(
        self, order: NewOrder, *, accept_intent: bool = False, reason: str | None = None
    ) -> OrderRecord:
        """Insert an order as PENDING_SUBMIT (and mark its intent ACCEPTED) in one transaction."""
        now = self.now()
        values = {
            **order.__dict__,
            "state": OrderState.PENDING_SUBMIT.value,
            "filled_quantity": 0.0,
            "fee": 0.0,
            "mode": self.mode,
            "lookups": 0,
            "created_at": now,
            "updated_at": now,
        }
        with self.transaction() as conn:
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
                self._set_intent_status(conn, order.intent_id, "ACCEPTED", reason)
        return OrderRecord(
            id=new_id,
            **{**values, "state": OrderState.PENDING_SUBMIT},
            exchange_order_id=None,
            average_price=None,
            fee_currency=None,
            submitted_at=None,
        )

    def order(self, client_order_id: str) -> OrderRecord | None:
        with self.transaction() as conn:
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
        with self.transaction() as conn:
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
        with self.transaction() as conn:
            return [_order_from_row(r) for r in conn.execute(query)]

    def live_orders(self) -> list[OrderRecord]:
        return self.orders(LIVE_STATES)

    def note_lookup_miss(self, client_order_id: str) -> int:
        """Count one "order not found" answer for an in-flight order; return the new count."""
        with self.transaction() as conn:
            conn.execute(
                schema.orders.update()
                .where(schema.orders.c.client_order_id == client_order_id)
                .values(lookups=schema.orders.c.lookups + 1, updated_at=self.now())
            )
            return self._order(conn, client_order_id).lookups

    def apply_order_update(
        self, client_order_id: str, update: OrderUpdate, fills: Iterable[Fill] = ()
    ) -> OrderRecord:
        """Move an order to what the exchange reports, with its new fills, in one transaction.

        Fills already in the ledger (same exchange, symbol and trade id) are ignored. An
        illegal state change raises ``IllegalTransition`` and nothing is written.
        """
        now = self.now()
        with self.transaction() as conn:
            current = self._order(conn, client_order_id)
            new_state = check_transition(current.state, update.state)
            for fill in fills:
                self._record_fill(conn, fill, applied=True, order=current)
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
                self._finish_intent_if_settled(conn, after)
            return after

    def _finish_intent_if_settled(self, conn: Connection, order: OrderRecord) -> None:
        """An intent is DONE once none of its orders is live (a reprice may still follow)."""
        t = schema.orders
        live = conn.execute(
            sa.select(sa.func.count()).where(
                t.c.intent_id == order.intent_id,
                t.c.state.in_([s.value for s in LIVE_STATES]),
            )
        ).scalar()
        if not live:
            reason = f"last order {order.client_order_id} {order.state}"
            if order.reason:
                reason += f": {order.reason}"
            self._set_intent_status(conn, order.intent_id, "DONE", reason)

    def finish_intent(self, intent_id: str, reason: str) -> None:
        with self.transaction() as conn:
            self._set_intent_status(conn, intent_id, "DONE", reason)

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
        now = self.now()
        with self.transaction() as conn:
            values = {
                **order.__dict__,
                "role": "external",
                "state": update.state.value,
                "exchange_order_id": update.exchange_order_id,
                "filled_quantity": update.filled_quantity or 0.0,
                "average_price": update.average_price,
                "fee": update.fee or 0.0,
                "fee_currency": update.fee_currency,
                "mode": self.mode,
                "lookups": 0,
                "created_at": now,
                "updated_at": now,
            }
            stmt = (
                _insert(conn, schema.orders)
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
            self._audit(
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

    # ------------------------------------------------------------------------------- fills

    def record_fills(self, fills: Iterable[Fill], *, applied: bool = True) -> int:
        """Record fills not seen before (by exchange, symbol and trade id); returns how many
        were new.

        ``applied=False`` keeps fills of external orders without moving our positions.
        """
        with self.transaction() as conn:
            return sum(self._record_fill(conn, fill, applied=applied) for fill in fills)

    def _record_fill(
        self, conn: Connection, fill: Fill, *, applied: bool, order: OrderRecord | None = None
    ) -> bool:
        values = {
            **fill.__dict__,
            "recorded_at": self.now(),
            "mode": self.mode,
            "applied": applied,
        }
        if order is not None:
            values["client_order_id"] = fill.client_order_id or order.client_order_id
            values["exchange_order_id"] = fill.exchange_order_id or order.exchange_order_id
            values["intent_id"] = fill.intent_id or order.intent_id
            values["strategy"] = fill.strategy or order.strategy
        stmt = (
            _insert(conn, schema.fills)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["exchange", "symbol", "trade_id"])
            .returning(schema.fills.c.id)
        )
        if conn.execute(stmt).first() is None:
            return False
        if applied:
            self._apply_fill(
                conn, fill, entry_intent_id=values["intent_id"], strategy=values["strategy"]
            )
        return True

    def _apply_fill(
        self, conn: Connection, fill: Fill, *, entry_intent_id: str | None, strategy: str | None
    ) -> None:
        """Move the position and cash by one fill (long and short, fees in base or quote)."""
        now = self.now()
        base, quote = base_currency(fill.symbol), quote_currency(fill.symbol)
        signed = fill.quantity if fill.side == "buy" else -fill.quantity
        pos = conn.execute(
            sa.select(schema.positions).where(
                schema.positions.c.exchange == fill.exchange,
                schema.positions.c.symbol == fill.symbol,
            )
        ).first()
        old_qty = pos.quantity if pos else 0.0
        avg = pos.avg_entry_price if pos else 0.0
        realized = pos.realized_pnl if pos else 0.0
        new_qty = old_qty + signed
        if abs(old_qty) <= QTY_EPSILON or (old_qty > 0) == (signed > 0):
            avg = (abs(old_qty) * avg + fill.quantity * fill.price) / abs(new_qty)
        else:
            closed = min(abs(signed), abs(old_qty))
            realized += (fill.price - avg) * closed * (1 if old_qty > 0 else -1)
            if abs(signed) > abs(old_qty):
                avg = fill.price  # flipped: the remainder opened at this price
        cash_delta = -signed * fill.price
        if fill.fee_currency == base:
            new_qty -= fill.fee
            realized -= fill.fee * fill.price
        else:
            cash_delta -= fill.fee
            realized -= fill.fee
        values: dict[str, Any] = {
            "quantity": 0.0 if abs(new_qty) <= QTY_EPSILON else new_qty,
            "avg_entry_price": avg,
            "realized_pnl": realized,
            "last_price": fill.price,
            "updated_at": now,
        }
        opening = abs(old_qty) <= QTY_EPSILON and abs(new_qty) > QTY_EPSILON
        if opening:
            values.update(
                opened_at=fill.event_time,
                entry_intent_id=entry_intent_id,
                strategy=strategy,
                high_water=fill.price,
            )
        elif abs(new_qty) <= QTY_EPSILON:
            values.update(stop_loss=None, take_profit=None, trailing_stop_pct=None, high_water=None)
        if pos is None:
            conn.execute(
                schema.positions.insert().values(
                    exchange=fill.exchange, symbol=fill.symbol, **values
                )
            )
        else:
            conn.execute(
                schema.positions.update()
                .where(
                    schema.positions.c.exchange == fill.exchange,
                    schema.positions.c.symbol == fill.symbol,
                )
                .values(**values)
            )
        self._move_cash(conn, fill.exchange, quote, cash_delta)

    def _move_cash(self, conn: Connection, exchange: str, currency: str, delta: float) -> None:
        t = schema.cash
        updated = conn.execute(
            t.update()
            .where(t.c.exchange == exchange, t.c.currency == currency)
            .values(amount=t.c.amount + delta, updated_at=self.now())
        )
        if updated.rowcount == 0:
            conn.execute(
                t.insert().values(
                    exchange=exchange, currency=currency, amount=delta, updated_at=self.now()
                )
            )

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
        with self.transaction() as conn:
            return [_fill_from_row(r) for r in conn.execute(query)]

    def fill_count(self) -> int:
        with self.transaction() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(schema.fills)).scalar())

    def known_trade_ids(self, exchange: str, symbol: str, trade_ids: Iterable[str]) -> set[str]:
        ids = list(trade_ids)
        if not ids:
            return set()
        t = schema.fills
        with self.transaction() as conn:
            rows = conn.execute(
                sa.select(t.c.trade_id).where(
                    t.c.exchange == exchange, t.c.symbol == symbol, t.c.trade_id.in_(ids)
                )
            )
            return {r[0] for r in rows}

    # --------------------------------------------------------------------- positions, cash

    def positions(self) -> list[Position]:
        with self.transaction() as conn:
            rows = conn.execute(sa.select(schema.positions).order_by(schema.positions.c.symbol))
            return [_position_from_row(r) for r in rows]

    def open_positions(self) -> list[Position]:
        """Positions with a non-zero quantity."""
        return [p for p in self.positions() if abs(p.quantity) > QTY_EPSILON]

    def position(self, exchange: str, symbol: str) -> Position | None:
        t = schema.positions
        with self.transaction() as conn:
            row = conn.execute(
                sa.select(t).where(t.c.exchange == exchange, t.c.symbol == symbol)
            ).first()
        return _position_from_row(row) if row else None

    def set_protection(
        self,
        exchange: str,
        symbol: str,
        *,
        stop_loss: float | None,
        take_profit: float | None,
        trailing_stop_pct: float | None,
    ) -> None:
        """Attach protective exits (watched by the executor) to an open position."""
        t = schema.positions
        with self.transaction() as conn:
            conn.execute(
                t.update()
                .where(t.c.exchange == exchange, t.c.symbol == symbol)
                .values(
                    stop_loss=stop_loss,
                    take_profit=take_profit,
                    trailing_stop_pct=trailing_stop_pct,
                    updated_at=self.now(),
                )
            )

    def mark_price(self, exchange: str, symbol: str, price: float, high: float) -> None:
        """Record the latest price and the highest price seen since entry (trailing stops)."""
        t = schema.positions
        with self.transaction() as conn:
            conn.execute(
                t.update()
                .where(t.c.exchange == exchange, t.c.symbol == symbol)
                .values(
                    last_price=price,
                    high_water=sa.func.coalesce(
                        sa.case((t.c.high_water > high, t.c.high_water), else_=high), high
                    ),
                    updated_at=self.now(),
                )
            )

    def ensure_account(self, exchange: str, currency: str, amount: float) -> bool:
        """Seed the cash balance once (paper: starting cash). False if it already exists."""
        with self.transaction() as conn:
            stmt = (
                _insert(conn, schema.cash)
                .values(exchange=exchange, currency=currency, amount=amount, updated_at=self.now())
                .on_conflict_do_nothing(index_elements=["exchange", "currency"])
                .returning(schema.cash.c.amount)
            )
            created = conn.execute(stmt).first() is not None
            if created:
                self._audit(
                    conn, "executor", "account_seeded", f"{exchange}:{currency}", {"amount": amount}
                )
            return created

    def cash(self, currency: str, exchange: str | None = None) -> float:
        t = schema.cash
        query = sa.select(sa.func.coalesce(sa.func.sum(t.c.amount), 0.0)).where(
            t.c.currency == currency
        )
        if exchange is not None:
            query = query.where(t.c.exchange == exchange)
        with self.transaction() as conn:
            return float(conn.execute(query).scalar())

    def account(self, quote: str = "USDT") -> Account:
        """Cash plus positions quoted in ``quote``, valued at their last known prices.

        Cash is zero until the executor has seeded the account (``ensure_account``).
        """
        held = [p for p in self.open_positions() if quote_currency(p.symbol) == quote]
        cash = self.cash(quote)
        value = sum(p.market_value for p in held)
        return Account(quote, cash, value, cash + value, len(held))

    def risk_inputs(
        self, exchange: str, quote: str, day_start: datetime, trades_cap: int
    ) -> RiskInputs:
        """Everything the risk gate reads, in one read (one round trip per intent).

        Today's trades are counted up to ``trades_cap`` (the daily limit): the gate only
        needs to know whether the limit is reached, and a capped count stays cheap however
        busy the day was.
        """
        o, c = schema.orders.c, schema.cash.c
        with self.transaction() as conn:
            state = conn.execute(
                sa.select(schema.risk_state.c.state).where(schema.risk_state.c.id == 1)
            ).scalar()
            cash = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(c.amount), 0.0)).where(c.currency == quote)
            ).scalar()
            held = [_position_from_row(r) for r in conn.execute(sa.select(schema.positions))]
            entries = (
                conn.execute(
                    sa.select(o.symbol)
                    .where(o.role == "entry", o.state.in_([s.value for s in LIVE_STATES]))
                    .distinct()
                )
                .scalars()
                .all()
            )
            todays = (
                sa.select(o.id)
                .where(
                    o.created_at >= day_start,
                    o.role.in_(INTENT_ROLES),
                    o.attempt == 0,
                    o.state.not_in([OrderState.REJECTED.value, OrderState.GIVEN_UP.value]),
                )
                .limit(trades_cap)
                .subquery()
            )
            trades = conn.execute(sa.select(sa.func.count()).select_from(todays)).scalar()
        open_held = [x for x in held if abs(x.quantity) > QTY_EPSILON]
        quoted = [x for x in open_held if quote_currency(x.symbol) == quote]
        return RiskInputs(
            trading_state=TradingState(state or TradingState.ACTIVE),
            cash=float(cash),
            equity=float(cash) + sum(x.market_value for x in quoted),
            positions={x.symbol: x for x in open_held if x.exchange == exchange},
            live_entry_symbols=frozenset(entries),
            trades_today=int(trades),
        )

    # ------------------------------------------------------------------------ balances

    def snapshot_balances(
        self, exchange: str, balances: dict[str, tuple[float, float, float]], source: str
    ) -> None:
        """Store ``{currency: (free, used, total)}`` as one snapshot."""
        now = self.now()
        rows = [
            {
                "taken_at": now,
                "exchange": exchange,
                "currency": cur,
                "free": free,
                "used": used,
                "total": total,
                "source": source,
            }
            for cur, (free, used, total) in balances.items()
        ]
        if rows:
            with self.transaction() as conn:
                conn.execute(schema.balances.insert(), rows)

    def record_baseline(
        self, exchange: str, totals: dict[str, float], cash: dict[str, float]
    ) -> None:
        """Store the holdings the account had before the ledger traded it, and seed the cash
        accounts from them, in one transaction (a crash leaves both or neither)."""
        now = self.now()
        # An empty account still gets a row: "no baseline yet" must not be asked again.
        rows = [
            {
                "taken_at": now,
                "exchange": exchange,
                "currency": cur,
                "free": total,
                "used": 0.0,
                "total": total,
                "source": "baseline",
            }
            for cur, total in (totals or {EMPTY_ACCOUNT: 0.0}).items()
        ]
        with self.transaction() as conn:
            conn.execute(schema.balances.insert(), rows)
            for currency, amount in cash.items():
                conn.execute(
                    _insert(conn, schema.cash)
                    .values(exchange=exchange, currency=currency, amount=amount, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["exchange", "currency"])
                )
            self._audit(
                conn,
                "reconciliation",
                "baseline_recorded",
                exchange,
                {"balances": totals, "cash": cash},
            )

    def last_known_activity(self, exchange: str) -> datetime | None:
        """The oldest of: the latest fill, the oldest working order (where missed fills start)."""
        f, o = schema.fills.c, schema.orders.c
        with self.transaction() as conn:
            last_fill = conn.execute(
                sa.select(sa.func.max(f.event_time)).where(f.exchange == exchange)
            ).scalar()
            oldest_live = conn.execute(
                sa.select(sa.func.min(o.created_at)).where(
                    o.exchange == exchange, o.state.in_([s.value for s in LIVE_STATES])
                )
            ).scalar()
        known = [t for t in (last_fill, oldest_live) if t is not None]
        return min(known) if known else None

    def latest_balances(self, exchange: str, source: str) -> dict[str, float]:
        """Totals of the most recent snapshot from ``source`` ({} if none)."""
        t = schema.balances
        with self.transaction() as conn:
            taken = conn.execute(
                sa.select(sa.func.max(t.c.taken_at)).where(
                    t.c.exchange == exchange, t.c.source == source
                )
            ).scalar()
            if taken is None:
                return {}
            rows = conn.execute(
                sa.select(t.c.currency, t.c.total).where(
                    t.c.exchange == exchange, t.c.source == source, t.c.taken_at == taken
                )
            )
            return {cur: total for cur, total in rows}

    # ------------------------------------------------------------------------- risk state

    def trading_state(self) -> TradingState:
        """ACTIVE, REDUCING or HALTED (ACTIVE until someone says otherwise)."""
        return self.risk_record().state

    def risk_record(self) -> RiskRecord:
        with self.transaction() as conn:
            row = conn.execute(
                sa.select(schema.risk_state).where(schema.risk_state.c.id == 1)
            ).first()
        if row is None:
            return RiskRecord(TradingState.ACTIVE, None, None, "default", self.now())
        m = row._mapping
        return RiskRecord(
            TradingState(m["state"]),
            m["reason"],
            m["peak_equity"],
            m["updated_by"],
            m["updated_at"],
        )

    def set_trading_state(self, state: TradingState | str, reason: str, actor: str) -> None:
        if state not in TRADING_STATES:
            raise ValueError(
                f"trading state {state!r}; allowed: {[s.value for s in TRADING_STATES]}"
            )
        state = TradingState(state)
        with self.transaction() as conn:
            before = self._upsert_risk(conn, state=state, reason=reason, updated_by=actor)
            self._audit(
                conn, actor, "trading_state", state, {"from": before, "to": state, "reason": reason}
            )

    def update_peak_equity(self, equity: float, *, reset: bool = False) -> float:
        """Raise the recorded peak to ``equity`` (or set it, with ``reset``); return the peak."""
        with self.transaction() as conn:
            row = conn.execute(
                sa.select(schema.risk_state.c.peak_equity).where(schema.risk_state.c.id == 1)
            ).first()
            peak = row[0] if row and row[0] is not None else None
            if reset or peak is None or equity > peak:
                self._upsert_risk(conn, peak_equity=equity)
                return equity
            return peak

    def _upsert_risk(self, conn: Connection, **values: Any) -> str | None:
        t = schema.risk_state
        row = conn.execute(sa.select(t.c.state).where(t.c.id == 1)).first()
        values["updated_at"] = self.now()
        if row is None:
            conn.execute(
                t.insert().values(
                    id=1,
                    **{"state": TradingState.ACTIVE.value, "updated_by": "executor", **values},
                )
            )
            return None
        conn.execute(t.update().where(t.c.id == 1).values(**values))
        return row[0]

    # ---------------------------------------------------------------- operator commands

    def add_command(self, command: str, who: str, why: str, symbol: str | None = None) -> int:
        if command not in COMMANDS:
            raise ValueError(f"operator command {command!r}; allowed: {COMMANDS}")
        if (command == "close-position") != (symbol is not None):
            raise ValueError("close-position needs a symbol, and only close-position takes one")
        with self.transaction() as conn:
            new_id = conn.execute(
                schema.operator_commands.insert()
                .values(command=command, symbol=symbol, who=who, why=why, issued_at=self.now())
                .returning(schema.operator_commands.c.id)
            ).scalar_one()
            self._audit(
                conn,
                f"operator:{who}",
                "command_issued",
                command,
                {"id": new_id, "symbol": symbol, "why": why},
            )
            return int(new_id)

    def commands(self, *, pending_only: bool = False, limit: int = 50) -> list[OperatorCommand]:
        t = schema.operator_commands
        query = sa.select(t)
        if pending_only:
            query = query.where(t.c.applied_at.is_(None)).order_by(t.c.id)
        else:
            query = query.order_by(t.c.id.desc()).limit(limit)
        with self.transaction() as conn:
            return [OperatorCommand(**dict(r._mapping)) for r in conn.execute(query)]

    def mark_command_applied(self, command_id: int, result: str) -> None:
        t = schema.operator_commands
        with self.transaction() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == command_id)).one()
            conn.execute(
                t.update().where(t.c.id == command_id).values(applied_at=self.now(), result=result)
            )
            self._audit(
                conn,
                f"operator:{row.who}",
                "command_applied",
                row.command,
                {"id": command_id, "symbol": row.symbol, "why": row.why, "result": result},
            )

    # ---------------------------------------------------------------------------- audit

    def audit(self, actor: str, event: str, subject: str | None, details: dict[str, Any]) -> None:
        with self.transaction() as conn:
            self._audit(conn, actor, event, subject, details)

    def _audit(
        self,
        conn: Connection,
        actor: str,
        event: str,
        subject: str | None,
        details: dict[str, Any],
    ) -> None:
        conn.execute(
            schema.audit_log.insert().values(
                at=self.now(),
                actor=actor,
                event=event,
                subject=subject,
                details=json.dumps(details, sort_keys=True, default=str),
            )
        )

    def audit_entries(self, event: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Most recent audit entries first (details decoded)."""
        t = schema.audit_log
        query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        if event is not None:
            query = query.where(t.c.event == event)
        with self.transaction() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["details"] = json.loads(row["details"])
        return rows
