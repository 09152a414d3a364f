"""The audit log: who did what to the ledger, when and why.

Every store writes its audit entries with ``AuditLog.record`` inside its own transaction, so
an entry exists exactly when the change it describes was committed.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from executor import schema
from executor.ledger.db import LedgerDB


class AuditLog:
    def __init__(self, db: LedgerDB):
        self.db = db

    def audit(self, actor: str, event: str, subject: str | None, details: dict[str, Any]) -> None:
        """One entry in a transaction of its own."""
        with self.db.transaction() as conn:
            self.record(conn, actor, event, subject, details)

    def record(
        self,
        conn: Connection,
        actor: str,
        event: str,
        subject: str | None,
        details: dict[str, Any],
    ) -> None:
        """One entry in the caller's transaction."""
        conn.execute(
            schema.audit_log.insert().values(
                at=self.db.now(),
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
        with self.db.transaction() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["details"] = json.loads(row["details"])
        return rows
