"""Balances: what the exchange says the account holds, as reconciliation records it.

Snapshots of the exchange's balances, the baseline (the holdings the account had before the
ledger traded it, which also seeds the cash accounts), and where a search for missed fills
has to start.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from executor import schema
from executor.ledger.audit import AuditLog
from executor.ledger.db import LedgerDB
from executor.ledger.portfolio import Portfolio
from executor.orders import LIVE_STATES

# The currency of the baseline row of an account that held nothing.
EMPTY_ACCOUNT = "*"


class BalanceStore:
    def __init__(self, db: LedgerDB, audit: AuditLog, portfolio: Portfolio):
        self.db = db
        self.audit = audit
        self.portfolio = portfolio

    def snapshot_balances(
        self, exchange: str, balances: dict[str, tuple[float, float, float]], source: str
    ) -> None:
        """Store ``{currency: (free, used, total)}`` as one snapshot."""
        now = self.db.now()
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
            with self.db.transaction() as conn:
                conn.execute(schema.balances.insert(), rows)

    def record_baseline(
        self, exchange: str, totals: dict[str, float], cash: dict[str, float]
    ) -> None:
        """Store the holdings the account had before the ledger traded it, and seed the cash
        accounts from them, in one transaction (a crash leaves both or neither)."""
        now = self.db.now()
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
        with self.db.transaction() as conn:
            conn.execute(schema.balances.insert(), rows)
            for currency, amount in cash.items():
                self.portfolio.seed_cash(conn, exchange, currency, amount, now)
            self.audit.record(
                conn,
                "reconciliation",
                "baseline_recorded",
                exchange,
                {"balances": totals, "cash": cash},
            )

    def latest_balances(self, exchange: str, source: str) -> dict[str, float]:
        """Totals of the most recent snapshot from ``source`` ({} if none)."""
        t = schema.balances
        with self.db.transaction() as conn:
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

    def last_known_activity(self, exchange: str) -> datetime | None:
        """The oldest of: the latest fill, the oldest working order (where missed fills start)."""
        f, o = schema.fills.c, schema.orders.c
        with self.db.transaction() as conn:
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
