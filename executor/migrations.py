"""A small versioned migration runner: the ledger creates or upgrades itself on open.

A fresh database gets the current tables (``executor.schema``) and is stamped with
``SCHEMA_VERSION``; an older one runs each step from its version up, every step in its own
transaction together with the new version stamp. A database newer than this code is refused:
an old executor must not write to a schema it does not understand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from executor import schema
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


# Steps from version N-1 to N, for N > 1 (version 1 is the initial schema).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "intents.post_only: a limit entry that must rest (maker only)",
              _add_intent_post_only),
    Migration(3, "executor_lease, ledger_meta, intent_quarantine: one owner per ledger, "
                 "one mode per ledger, malformed intents kept with their reason",
              _add_lease_meta_quarantine),
    Migration(4, "orders.state GIVEN_UP: the executor's own verdict on an order the exchange "
                 "never had, distinct from the exchange's REJECTED", _given_up_orders),
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
