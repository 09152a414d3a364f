"""A small versioned migration runner: the ledger creates or upgrades itself on open.

A fresh database gets the current tables (``executor.schema``) and is stamped with
``SCHEMA_VERSION``; an older one runs each step from its version up, every step in its own
transaction together with the new version stamp. A database newer than this code is refused:
an old executor must not write to a schema it does not understand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from executor import schema
from trading_core.accounting import AccountingError, Execution, fee_in_quote
from trading_core.timeframes import utc_now


class LedgerSchemaError(RuntimeError):
    """The ledger's schema cannot be used by this version of the executor."""


@dataclass(frozen=True)
class Migration:
    version: int  # the version the database has after this step
    description: str
    apply: Callable[[Connection], None]


def _add_intent_post_only(conn: Connection) -> None:
    conn.execute(sa.text("ALTER TABLE intents ADD COLUMN post_only BOOLEAN NOT NULL DEFAULT FALSE"))


def _add_lease_meta_quarantine(conn: Connection) -> None:
    for table in (schema.executor_lease, schema.ledger_meta, schema.intent_quarantine):
        table.create(conn)


def _given_up_orders(conn: Connection) -> None:
    """Orders the executor gave up on were recorded as REJECTED, which reads as the
    exchange's answer; they become GIVEN_UP (and so do their state-change events)."""
    pattern = "the exchange has no order % lookups: the submit never arrived"
    for table in (schema.orders, schema.order_events):
        conn.execute(
            table.update()
            .where(table.c.state == "REJECTED", table.c.reason.like(pattern))
            .values(state="GIVEN_UP")
        )


def _add_column(
    conn: Connection, table: str, name: str, sql_type: sa.types.TypeEngine[Any], extra: str = ""
) -> None:
    ddl = sql_type.compile(dialect=conn.dialect)
    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {name} {ddl} {extra}".strip()))


def _gross_and_net_pnl(conn: Connection) -> None:
    """positions.realized_pnl (net of fees, a fee in any currency but the base counted as
    quote) becomes realized_pnl_gross / realized_pnl_net / fees_quote; fills get their fee
    valued in quote (fee_quote), or a fee_issue when it was in a third currency with no
    price (``carry_realized_pnl_over``)."""
    for name in ("realized_pnl_gross", "realized_pnl_net", "fees_quote"):
        _add_column(conn, "positions", name, sa.Double(), "NOT NULL DEFAULT 0")
    for name, sql_type in (
        ("fee_price", sa.Double()),
        ("fee_quote", sa.Double()),
        ("fee_issue", sa.Text()),
    ):
        _add_column(conn, "fills", name, sql_type)
    carry_realized_pnl_over(conn)
    conn.execute(sa.text("ALTER TABLE positions DROP COLUMN realized_pnl"))


def _fee_quote(row: Any) -> tuple[float | None, str | None]:
    """A v4 fill's fee valued in quote, or why it cannot be (no price was ever recorded)."""
    base, quote = row.symbol.split("/", 1)[0], row.symbol.split("/", 1)[1].split(":", 1)[0]
    e = Execution(row.side, row.quantity, row.price, row.fee, row.fee_currency)
    try:
        return fee_in_quote(e, base, quote), None
    except AccountingError as exc:
        return None, f"{exc} (migrated from ledger schema v4, which counted it as {quote})"


def carry_realized_pnl_over(conn: Connection) -> None:
    """Carry v4 rows over to the v5 columns, in the migration's transaction.

    v4 kept one ``realized_pnl`` per position, net of every fee of its applied fills, with a
    fee in the base asset valued at the fill price and any other fee counted as quote. Every
    applied fill is recorded with the position it moved, so the gross is exact:
    ``realized_pnl_gross = realized_pnl + those fees``. ``fees_quote`` is the same fees valued
    by ``trading_core.accounting``; they differ only for a fee in a third currency (BNB),
    which v4 took for quote: it has no price, so its fill keeps ``fee_quote`` NULL with a
    ``fee_issue``, it is left out of ``fees_quote``, and the quote cash it was wrongly
    charged is moved to the fee currency's cash (both audited). Without such fills
    ``realized_pnl_net`` is the old ``realized_pnl`` exactly.
    """
    fills = conn.execute(
        sa.text(
            "SELECT id, exchange, symbol, side, quantity, price, fee, fee_currency, applied "
            "FROM fills ORDER BY id"
        )
    ).all()
    v4_fees: dict[tuple[str, str], float] = {}
    correction: dict[tuple[str, str], float] = {}
    moved: dict[tuple[str, str], float] = {}
    for row in fills:
        try:
            value, issue = _fee_quote(row)
        except AccountingError as exc:  # a v4 row the core refuses (a NaN price...)
            value, issue = None, f"{exc} (migrated from ledger schema v4)"
        conn.execute(
            sa.text("UPDATE fills SET fee_quote = :value, fee_issue = :issue WHERE id = :id"),
            {"value": value, "issue": issue, "id": row.id},
        )
        if not row.applied:
            continue
        key = (row.exchange, row.symbol)
        base, quote = row.symbol.split("/", 1)[0], row.symbol.split("/", 1)[1].split(":", 1)[0]
        old = row.fee * row.price if row.fee_currency == base else row.fee
        v4_fees[key] = v4_fees.get(key, 0.0) + old
        if value is None or value != old:
            correction[key] = correction.get(key, 0.0) + ((value or 0.0) - old)
        if row.fee_currency not in (None, base, quote) and row.fee:
            moved[(row.exchange, quote)] = moved.get((row.exchange, quote), 0.0) + row.fee
            moved[(row.exchange, row.fee_currency)] = (
                moved.get((row.exchange, row.fee_currency), 0.0) - row.fee
            )
    positions = conn.execute(sa.text("SELECT exchange, symbol, realized_pnl FROM positions")).all()
    for pos in positions:
        key = (pos.exchange, pos.symbol)
        old_fees = v4_fees.get(key, 0.0)
        delta = correction.get(key, 0.0)
        conn.execute(
            sa.text("UPDATE positions SET realized_pnl_gross = :gross, realized_pnl_net = :net, "
                    "fees_quote = :fees WHERE exchange = :exchange AND symbol = :symbol"),
            {"gross": pos.realized_pnl + old_fees, "net": pos.realized_pnl - delta,
             "fees": old_fees + delta, "exchange": pos.exchange, "symbol": pos.symbol},
        )  # fmt: skip
    now = utc_now()
    for (exchange, currency), amount in sorted(moved.items()):
        t = schema.cash
        updated = conn.execute(
            t.update()
            .where(t.c.exchange == exchange, t.c.currency == currency)
            .values(amount=t.c.amount + amount, updated_at=now)
        )
        if updated.rowcount == 0:
            conn.execute(
                t.insert().values(
                    exchange=exchange, currency=currency, amount=amount, updated_at=now
                )
            )
    if moved or correction:
        conn.execute(
            schema.audit_log.insert().values(
                at=now, actor="migration", event="fees_revalued", subject="schema v5",
                details=json.dumps({
                    "cash_moved": {f"{e}:{c}": a for (e, c), a in sorted(moved.items())},
                    "fees_quote_corrected": {f"{e}:{s}": d for (e, s), d in correction.items()},
                }),
            )
        )  # fmt: skip


def _strategy_instances(conn: Connection) -> None:
    """Every intent, order, fill and position gets its strategy instance; today's rows are
    the single-strategy ``default`` instance's (external orders and their fills keep none).
    Positions become one sub-position per (exchange, symbol, instance)."""
    width = sa.String(schema.INSTANCE_ID_LENGTH)
    _add_column(conn, "intents", "instance_id", width, "NOT NULL DEFAULT 'default'")
    _add_column(conn, "orders", "instance_id", width)
    _add_column(conn, "fills", "instance_id", width)
    conn.execute(sa.text("UPDATE orders SET instance_id = 'default' WHERE role <> 'external'"))
    conn.execute(sa.text("UPDATE fills SET instance_id = 'default' WHERE applied"))
    _add_column(conn, "risk_state", "protocol_state", sa.Text())
    if conn.dialect.name == "postgresql":
        _add_column(conn, "positions", "instance_id", width, "NOT NULL DEFAULT 'default'")
        pk = sa.inspect(conn).get_pk_constraint("positions")["name"]
        conn.execute(sa.text(f'ALTER TABLE positions DROP CONSTRAINT "{pk}"'))
        conn.execute(
            sa.text("ALTER TABLE positions ADD PRIMARY KEY (exchange, symbol, instance_id)")
        )
        return
    # SQLite cannot change a primary key: rebuild the table and copy the rows over.
    columns = ", ".join(c.name for c in schema.positions.columns if c.name != "instance_id")
    conn.execute(sa.text("ALTER TABLE positions RENAME TO positions_v5"))
    schema.positions.create(conn)
    conn.execute(
        sa.text(
            f"INSERT INTO positions ({columns}, instance_id) "
            f"SELECT {columns}, 'default' FROM positions_v5"
        )
    )
    conn.execute(sa.text("DROP TABLE positions_v5"))


def _intent_sizing_conventions(conn: Connection) -> None:
    """Intents say whether their notional includes the fee and carry stop / take-profit
    fractions of the fill price; today's intents do neither."""
    _add_column(conn, "intents", "notional_includes_fee", sa.Boolean(), "NOT NULL DEFAULT FALSE")
    _add_column(conn, "intents", "stop_loss_pct", sa.Double())
    _add_column(conn, "intents", "take_profit_pct", sa.Double())


# Steps from version N-1 to N, for N > 1 (version 1 is the initial schema).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "intents.post_only: a limit entry that must rest (maker only)",
              _add_intent_post_only),
    Migration(3, "executor_lease, ledger_meta, intent_quarantine: one owner per ledger, "
                 "one mode per ledger, malformed intents kept with their reason",
              _add_lease_meta_quarantine),
    Migration(4, "orders.state GIVEN_UP: the executor's own verdict on an order the exchange "
                 "never had, distinct from the exchange's REJECTED", _given_up_orders),
    Migration(5, "positions.realized_pnl_gross / realized_pnl_net / fees_quote replace "
                 "realized_pnl; fills.fee_price / fee_quote / fee_issue: one accounting core",
              _gross_and_net_pnl),
    Migration(6, "intents/orders/fills/positions.instance_id: strategy instances, one "
                 "sub-position per instance; today's rows become the 'default' instance's; "
                 "risk_state.protocol_state",
              _strategy_instances),
    Migration(7, "intents.notional_includes_fee / stop_loss_pct / take_profit_pct: the "
                 "all-in sizing and fill-price levels of backtests and replays",
              _intent_sizing_conventions),
)  # fmt: skip


def current_version(conn: Connection) -> int:
    """0 for an empty database."""
    if not sa.inspect(conn).has_table(schema.schema_version.name):
        return 0
    version = conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()
    return int(version or 0)


def _lock_for_migration(conn: Connection) -> None:
    """Serialise concurrent openers (executor and a Dagster run may open a new ledger at once)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(74657865)"))
    # SQLite: every ledger transaction starts with BEGIN IMMEDIATE (see executor.ledger).


def upgrade(
    engine: Engine,
    target: int = schema.SCHEMA_VERSION,
    steps: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Bring the database to ``target``; return the version it had before."""
    with engine.begin() as conn:
        _lock_for_migration(conn)
        found = current_version(conn)
        if found > target:
            raise LedgerSchemaError(
                f"ledger schema is version {found}, newer than this executor's {target}; "
                "upgrade the executor instead of writing to a schema it does not know"
            )
        if found == 0:
            schema.metadata.create_all(conn)
            conn.execute(
                schema.schema_version.insert().values(
                    version=target, applied_at=utc_now(), description="initial schema"
                )
            )
            return 0
    by_version = {step.version: step for step in steps}
    for version in range(found + 1, target + 1):
        step = by_version.get(version)
        if step is None:
            raise LedgerSchemaError(f"no migration step to ledger schema version {version}")
        with engine.begin() as conn:
            _lock_for_migration(conn)
            if current_version(conn) >= version:
                continue  # another process applied it meanwhile
            step.apply(conn)
            conn.execute(
                schema.schema_version.insert().values(
                    version=version, applied_at=utc_now(), description=step.description
                )
            )
    return found
