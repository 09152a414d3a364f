"""Intents: what the strategies want, from NEW to a terminal status with its reason.

Intents are written by the code location (another process) and by the ``trading intents``
CLI; the executor only moves their status along. A repeated intent id with the same content
is harmless; with different content it is refused and audited. Input that cannot become an
intent, and intent rows found broken in the ledger, are kept in quarantine with a reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from executor import schema
from executor.intents import OrderIntent
from executor.ledger.audit import AuditLog
from executor.ledger.db import LedgerDB, insert
from trading_core.config_portfolio import DEFAULT_INSTANCE, MANUAL_INSTANCE

# NEW -> ACCEPTED -> DONE, or NEW -> one of the terminal refusals: REJECTED_BY_RISK (a rule
# said no), EXPIRED (too old or the price moved away), INVALID (malformed), FAILED (the
# executor could not handle it; the reason says why).
INTENT_STATUSES: tuple[str, ...] = (
    "NEW", "ACCEPTED", "REJECTED_BY_RISK", "EXPIRED", "INVALID", "FAILED", "DONE"
)  # fmt: skip
# Intent fields that make up its content: a second intent with the same id must match them.
_CONTENT_EXCLUDED = frozenset({"id", "status", "status_reason", "created_at", "updated_at"})


@dataclass(frozen=True)
class IntentRecord:
    intent: OrderIntent
    status: str
    status_reason: str | None


@dataclass(frozen=True)
class IntentSubmission:
    """What became of one submitted intent: stored (accepted) or refused, and why."""

    intent_id: str
    accepted: bool
    reason: str


class IntentStore:
    def __init__(self, db: LedgerDB, audit: AuditLog):
        self.db = db
        self.audit = audit

    def add_intents(self, intents: list[OrderIntent]) -> int:
        """Insert a strategy's intents as NEW; returns how many were new. An intent naming
        no instance is the single-strategy ``default`` instance's. An identical intent
        already present is left alone; one with the same id and different content is
        refused and audited (see ``submit_intents``)."""
        return sum(
            1
            for result in self.submit_intents(
                intents, source="strategy", default_instance=DEFAULT_INSTANCE
            )
            if result.accepted and result.reason == "new"
        )

    def submit_intents(
        self,
        intents: Sequence[OrderIntent],
        *,
        source: str = "cli",
        default_instance: str = MANUAL_INSTANCE,
    ) -> list[IntentSubmission]:
        """Store intents as NEW, one answer per intent, in one transaction.

        An intent naming no instance is filed under ``default_instance`` (``manual`` for
        intents submitted by hand). The same id with the same content is a harmless repeat
        (accepted, nothing stored); the same id with different content is refused and
        audited, never silently ignored.
        """
        if not intents:
            return []
        now = self.db.now()
        t = schema.intents
        results: list[IntentSubmission] = []
        new_ids: list[str] = []
        with self.db.transaction() as conn:
            for intent in intents:
                row = _intent_row(intent, default_instance)
                stmt = (
                    insert(conn, t)
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
                self.audit.record(
                    conn,
                    source,
                    "intent_conflict",
                    intent.intent_id,
                    {"differs": differs, "refused": {k: row[k] for k in differs}},
                )
                results.append(IntentSubmission(intent.intent_id, False, reason))
            if new_ids:
                self.audit.record(conn, source, "intents_added", None, {"intent_ids": new_ids})
        return results

    def quarantine_intent(
        self, payload: str, reason: str, *, source: str, intent_id: str | None = None
    ) -> None:
        """Keep an input that could not become an intent, with its reason (and audit it)."""
        with self.db.transaction() as conn:
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
                received_at=self.db.now(),
            )
        )
        self.audit.record(conn, source, "intent_quarantined", intent_id, {"reason": reason})

    def quarantined_intents(self, limit: int = 100) -> list[dict[str, Any]]:
        t = schema.intent_quarantine
        with self.db.transaction() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    def intent(self, intent_id: str) -> IntentRecord | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                sa.select(schema.intents).where(schema.intents.c.intent_id == intent_id)
            ).first()
        if row is None:
            return None
        try:
            return _intent_from_row(row)
        except (ValueError, TypeError, KeyError):  # a broken row: quarantined by new_intents
            return None

    def new_intents(self, limit: int = 100) -> list[IntentRecord]:
        """Intents the executor has not looked at yet, oldest first.

        A row that no longer reads as a valid intent (written by an older version, or by hand)
        is quarantined with its reason and marked INVALID: one broken row never stops the
        intents behind it.
        """
        t = schema.intents
        with self.db.transaction() as conn:
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
                with self.db.transaction() as conn:
                    self._quarantine(
                        conn, payload, reason, source="ledger", intent_id=row.intent_id
                    )
                    self.write_intent_status(conn, row.intent_id, "INVALID", reason)
        return good

    def set_intent_status(self, intent_id: str, status: str, reason: str | None) -> None:
        """Move an intent to ``status``; a refusal is audited with its reason."""
        if status not in INTENT_STATUSES:
            raise ValueError(f"intent status {status!r}; allowed: {INTENT_STATUSES}")
        with self.db.transaction() as conn:
            self.write_intent_status(conn, intent_id, status, reason)
            if status in ("REJECTED_BY_RISK", "EXPIRED", "INVALID", "FAILED"):
                event = "intent_rejected" if status == "REJECTED_BY_RISK" else "intent_refused"
                self.audit.record(
                    conn, "risk", event, intent_id, {"status": status, "reason": reason}
                )

    def finish_intent(self, intent_id: str, reason: str) -> None:
        with self.db.transaction() as conn:
            self.write_intent_status(conn, intent_id, "DONE", reason)

    def write_intent_status(
        self, conn: Connection, intent_id: str, status: str, reason: str | None
    ) -> None:
        """Set an intent's status in the caller's transaction (no audit entry)."""
        conn.execute(
            schema.intents.update()
            .where(schema.intents.c.intent_id == intent_id)
            .values(status=status, status_reason=reason, updated_at=self.db.now())
        )

    def intent_counts(self) -> dict[str, int]:
        t = schema.intents
        with self.db.transaction() as conn:
            rows = conn.execute(sa.select(t.c.status, sa.func.count()).group_by(t.c.status))
            return {status: count for status, count in rows}


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
        instance=m["instance_id"],
        notional_includes_fee=bool(m["notional_includes_fee"]),
        stop_loss_pct=m["stop_loss_pct"],
        take_profit_pct=m["take_profit_pct"],
    )
    return IntentRecord(intent, m["status"], m["status_reason"])


def _intent_row(intent: OrderIntent, default_instance: str) -> dict[str, Any]:
    row = intent.to_row()
    row["reference_price"] = row.get("reference_price") or 0.0
    row["instance_id"] = row["instance_id"] or default_instance
    return row
