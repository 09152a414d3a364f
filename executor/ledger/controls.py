"""Operator commands: what a human told the executor, and what became of it.

``trading control`` (or the cockpit, a Dagster control job, the Telegram bot) issues a
command (who, when, why); the running executor applies pending commands oldest first at the
start of its next tick and records the result. Both steps are audited under
``operator:<who>`` with the reason the operator gave.

A command's arguments beyond its symbol (set-risk's scale, an instance id, an expiry, where
the command came from) are one JSON object kept with it in ``ledger_meta`` under
``command_args:<id>``, written in the command's own transaction. The operator overrides the
executor keeps (``executor.overrides``: risk scale, blacklist, paused instances) are one JSON
document under ``operator_overrides``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from executor import schema
from executor.ledger.audit import AuditLog
from executor.ledger.db import LedgerDB

# The commands the cockpit offers (unchanged): no arguments but close-position's symbol.
COMMANDS: tuple[str, ...] = (
    "pause", "resume", "close-all", "close-position", "halt", "review"
)  # fmt: skip
# The operator overrides (issue 13): trading control, Dagster control jobs, Telegram.
OVERRIDE_COMMANDS: tuple[str, ...] = (
    "set-risk", "blacklist", "unblacklist", "force-exit", "pause-instance", "resume-instance"
)  # fmt: skip
ALL_COMMANDS: tuple[str, ...] = COMMANDS + OVERRIDE_COMMANDS
SYMBOL_COMMANDS: frozenset[str] = frozenset(
    {"close-position", "blacklist", "unblacklist", "force-exit"}
)
OVERRIDES_KEY = "operator_overrides"
ARGS_PREFIX = "command_args:"


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
    args: dict[str, Any] = field(default_factory=dict)


def _args_json(args: dict[str, Any]) -> str:
    for key, value in args.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"command argument {key} must be a finite number, got {value}")
    return json.dumps(args, sort_keys=True, allow_nan=False, default=str)


class ControlStore:
    def __init__(self, db: LedgerDB, audit: AuditLog):
        self.db = db
        self.audit = audit

    def add_command(
        self,
        command: str,
        who: str,
        why: str,
        symbol: str | None = None,
        args: dict[str, Any] | None = None,
    ) -> int:
        if command not in ALL_COMMANDS:
            raise ValueError(f"operator command {command!r}; allowed: {ALL_COMMANDS}")
        if (command in SYMBOL_COMMANDS) != (symbol is not None):
            what = "needs a symbol" if symbol is None else "takes no symbol"
            raise ValueError(
                f"{command} {what}: a symbol is taken by {sorted(SYMBOL_COMMANDS)} only"
            )
        text = _args_json(args) if args else None
        with self.db.transaction() as conn:
            new_id = conn.execute(
                schema.operator_commands.insert()
                .values(command=command, symbol=symbol, who=who, why=why, issued_at=self.db.now())
                .returning(schema.operator_commands.c.id)
            ).scalar_one()
            if text is not None:
                conn.execute(
                    schema.ledger_meta.insert().values(
                        key=f"{ARGS_PREFIX}{new_id}", value=text, updated_at=self.db.now()
                    )
                )
            detail: dict[str, Any] = {"id": new_id, "symbol": symbol, "why": why}
            if args:
                detail["args"] = args
            self.audit.record(conn, f"operator:{who}", "command_issued", command, detail)
            return int(new_id)

    def commands(self, *, pending_only: bool = False, limit: int = 50) -> list[OperatorCommand]:
        t = schema.operator_commands
        query = sa.select(t)
        if pending_only:
            query = query.where(t.c.applied_at.is_(None)).order_by(t.c.id)
        else:
            query = query.order_by(t.c.id.desc()).limit(limit)
        with self.db.transaction() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
            args = self._args(conn, [int(r["id"]) for r in rows])
        return [OperatorCommand(**row, args=args.get(int(row["id"]), {})) for row in rows]

    def _args(self, conn: Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        t = schema.ledger_meta
        keys = [f"{ARGS_PREFIX}{i}" for i in ids]
        found: dict[int, dict[str, Any]] = {}
        for key, value in conn.execute(sa.select(t.c.key, t.c.value).where(t.c.key.in_(keys))):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = {"unreadable": value[:200]}
            found[int(key.removeprefix(ARGS_PREFIX))] = (
                parsed if isinstance(parsed, dict) else {"unreadable": str(parsed)[:200]}
            )
        return found

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

    # ------------------------------------------------------------------ overrides

    def overrides_text(self) -> str | None:
        t = schema.ledger_meta
        with self.db.transaction() as conn:
            value = conn.execute(sa.select(t.c.value).where(t.c.key == OVERRIDES_KEY)).scalar()
        return None if value is None else str(value)

    def save_overrides(
        self, text: str, actor: str, event: str, subject: str | None, detail: dict[str, Any]
    ) -> None:
        """Replace the overrides document and audit why, in one transaction."""
        t = schema.ledger_meta
        with self.db.transaction() as conn:
            updated = conn.execute(
                t.update()
                .where(t.c.key == OVERRIDES_KEY)
                .values(value=text, updated_at=self.db.now())
            ).rowcount
            if not updated:
                conn.execute(
                    t.insert().values(key=OVERRIDES_KEY, value=text, updated_at=self.db.now())
                )
            self.audit.record(conn, actor, event, subject, detail)
