"""The ledger database: the engine, the unit of work and the ledger's clock.

SQLAlchemy Core over SQLite (default, ``Paths.ledger_url()``) or PostgreSQL (any URL, e.g.
``TRADING_LEDGER_URL``). Every state change is one transaction (``LedgerDB.transaction``):
the stores write through the ``Connection`` it yields, and an operation that spans stores
passes that connection on, so an order update, its fills, the position and cash they move,
its state-change event and its intent's status commit together or not at all.

SQLite runs in WAL mode with a busy timeout, and every transaction starts with
``BEGIN IMMEDIATE``: the strategy asset writes intents from a Dagster run while the executor
runs, and taking the write lock up front makes the second writer wait instead of failing
with "database is locked" halfway through a transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from executor.ledger.cached_insert import cached_insert
from executor.migrations import upgrade


class LedgerDB:
    """One ledger database: opening it creates or upgrades the schema."""

    def __init__(self, url: str, *, mode: str, clock: Callable[[], datetime]):
        self.url = url
        self.mode = mode
        self.clock = clock
        self.engine = make_engine(url)
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The unit of work: one transaction, committed on exit, rolled back on error."""
        with self.engine.begin() as conn:
            yield conn

    def now(self) -> datetime:
        return self.clock()


def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    database = sa.engine.make_url(url).database
    if database and database != ":memory:":
        private_file(Path(database))
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


def private_file(path: Path) -> None:
    """The ledger (and its WAL and shared-memory files) readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file == path and not file.exists():
            file.touch(mode=0o600)
        if file.exists():
            file.chmod(0o600)


def insert(conn: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ON CONFLICT DO NOTHING on both backends, with a cache key
    (the dialects' own inserts have none and were compiled on every execution)."""
    return cached_insert(conn.dialect.name, table)
