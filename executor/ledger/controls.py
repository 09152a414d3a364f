"""Operator commands: what a human told the executor, and what became of it.

``trading control`` issues a command (who, when, why); the running executor applies pending
commands oldest first at the start of its next tick and records the result. Both steps are
audited under ``operator:<who>`` with the reason the operator gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from executor import schema
from executor.ledger.audit import AuditLog
from executor.ledger.db import LedgerDB

COMMANDS: tuple[str, ...] = (
    "pause", "resume", "close-all", "close-position", "halt", "review"
)  # fmt: skip


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


class ControlStore:
    def __init__(self, db: LedgerDB, audit: AuditLog):
        self.db = db
        self.audit = audit

    def add_command(self, command: str, who: str, why: str, symbol: str | None = None) -> int:
        if command not in COMMANDS:
            raise ValueError(f"operator command {command!r}; allowed: {COMMANDS}")
        if (command == "close-position") != (symbol is not None):
            raise ValueError("close-position needs a symbol, and only close-position takes one")
        with self.db.transaction() as conn:
            new_id = conn.execute(
                schema.operator_commands.insert()
                .values(command=command, symbol=symbol, who=who, why=why, issued_at=self.db.now())
                .returning(schema.operator_commands.c.id)
            ).scalar_one()
            self.audit.record(
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
        with self.db.transaction() as conn:
            return [OperatorCommand(**dict(r._mapping)) for r in conn.execute(query)]

    def mark_command_applied(self, command_id: int, result: str) -> None:
        t = schema.operator_commands
        with self.db.transaction() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == command_id)).one()
            conn.execute(
                t.update()
                .where(t.c.id == command_id)
                .values(applied_at=self.db.now(), result=result)
            )
            self.audit.record(
                conn,
                f"operator:{row.who}",
                "command_applied",
                row.command,
                {"id": command_id, "symbol": row.symbol, "why": row.why, "result": result},
            )
