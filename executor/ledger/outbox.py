"""The publish outbox: which ledger rows went to which lake batch, and how far each got.

A batch is allocated in one transaction that fixes its rows (a source id range and one event
date), stores it and moves its stream's cursor past them, before any file exists; it is then
marked written, and finally reported. A crash between steps repeats the step with the same
rows and the same file name, so nothing is lost or doubled (``executor.publish`` does the
writing and the reporting).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from executor import schema
from executor.ledger.db import LedgerDB


@dataclass(frozen=True)
class OutboxBatch:
    """One row of ``publish_outbox``."""

    id: int
    batch_id: str
    stream: str  # fills | orders
    event_date: date
    first_row_id: int
    last_row_id: int
    rows: int
    path: str
    first_event_time: datetime
    last_event_time: datetime
    published_at: datetime
    written_at: datetime | None
    reported_at: datetime | None
    attempts: int
    last_error: str | None


class OutboxStore:
    def __init__(self, db: LedgerDB):
        self.db = db

    def allocate(
        self,
        stream: str,
        *,
        max_rows: int,
        clock: Callable[[], datetime],
        path_of: Callable[[date, str], Path],
    ) -> int:
        """Fix the stream's next rows (at most ``max_rows``) into batches, one per event date,
        and move the stream's cursor past them; returns how many batches."""
        ids, times = _id_column(stream), _time_column(stream)
        cursor_t = schema.publish_cursor
        with self.db.transaction() as conn:
            cursor = conn.execute(
                sa.select(cursor_t.c.last_row_id).where(cursor_t.c.stream == stream)
            ).scalar()
            after = cursor or 0
            rows = conn.execute(
                sa.select(ids, times).where(ids > after).order_by(ids).limit(max_rows)
            ).all()
            if not rows:
                return 0
            groups: dict[date, list[tuple[int, datetime]]] = {}
            for row_id, event_time in rows:
                groups.setdefault(event_time.date(), []).append((row_id, event_time))
            now = clock()
            for event_date, members in sorted(groups.items()):
                first, last = members[0][0], members[-1][0]
                batch_id = f"{stream}-{event_date:%Y%m%d}-{first:010d}-{last:010d}"
                conn.execute(
                    schema.publish_outbox.insert().values(
                        batch_id=batch_id,
                        stream=stream,
                        event_date=event_date,
                        first_row_id=first,
                        last_row_id=last,
                        rows=len(members),
                        path=str(path_of(event_date, batch_id)),
                        first_event_time=min(t for _, t in members),
                        last_event_time=max(t for _, t in members),
                        published_at=now,
                        attempts=0,
                    )
                )
            new_cursor = rows[-1][0]
            if cursor is None:
                conn.execute(cursor_t.insert().values(stream=stream, last_row_id=new_cursor))
            else:
                conn.execute(
                    cursor_t.update()
                    .where(cursor_t.c.stream == stream)
                    .values(last_row_id=new_cursor)
                )
            return len(groups)

    def unwritten(self) -> list[OutboxBatch]:
        """Allocated batches whose file is not written yet, oldest first."""
        t = schema.publish_outbox
        return self._batches(sa.select(t).where(t.c.written_at.is_(None)).order_by(t.c.id))

    def batch_rows(self, batch: OutboxBatch) -> list[dict[str, Any]]:
        """A batch's rows in contract column order, as they go into its file."""
        ids, times = _id_column(batch.stream), _time_column(batch.stream)
        day = datetime.combine(batch.event_date, datetime.min.time())
        query = (
            _source_query(batch.stream)
            .where(
                ids.between(batch.first_row_id, batch.last_row_id),
                times >= day,
                times < day + timedelta(days=1),
            )
            .order_by(ids)
        )
        with self.db.transaction() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            del row["row_id"]
            row["published_at"] = batch.published_at
            row["batch_id"] = batch.batch_id
        return rows

    def mark_written(self, batch: OutboxBatch, clock: Callable[[], datetime]) -> None:
        t = schema.publish_outbox
        with self.db.transaction() as conn:
            conn.execute(t.update().where(t.c.id == batch.id).values(written_at=clock()))

    def unreported_count(self) -> int:
        t = schema.publish_outbox
        with self.db.transaction() as conn:
            query = sa.select(sa.func.count()).where(t.c.reported_at.is_(None))
            return int(conn.execute(query).scalar_one())

    def unreported(self) -> list[OutboxBatch]:
        """Written batches not reported yet, oldest first."""
        t = schema.publish_outbox
        return self._batches(
            sa.select(t)
            .where(t.c.reported_at.is_(None), t.c.written_at.is_not(None))
            .order_by(t.c.id)
        )

    def mark_reported(self, batch: OutboxBatch, clock: Callable[[], datetime]) -> None:
        t = schema.publish_outbox
        with self.db.transaction() as conn:
            conn.execute(
                t.update()
                .where(t.c.id == batch.id)
                .values(reported_at=clock(), attempts=t.c.attempts + 1, last_error=None)
            )

    def note_report_failed(self, batch: OutboxBatch, error: str) -> None:
        t = schema.publish_outbox
        with self.db.transaction() as conn:
            conn.execute(
                t.update()
                .where(t.c.id == batch.id)
                .values(attempts=t.c.attempts + 1, last_error=error[:500])
            )

    def _batches(self, query: sa.Select[Any]) -> list[OutboxBatch]:
        with self.db.transaction() as conn:
            return [OutboxBatch(**r._mapping) for r in conn.execute(query)]


def _source_query(stream: str) -> sa.Select[Any]:
    """Rows of a stream in contract column order (without published_at and batch_id)."""
    if stream == "fills":
        f = schema.fills
        return sa.select(
            f.c.id.label("row_id"),
            # Trade ids repeat across symbols: the fill id names all three.
            (f.c.exchange + sa.literal(":") + f.c.symbol + sa.literal(":") + f.c.trade_id).label(
                "fill_id"
            ),
            f.c.exchange,
            f.c.trade_id,
            f.c.client_order_id,
            f.c.exchange_order_id,
            f.c.intent_id,
            f.c.strategy,
            f.c.symbol,
            f.c.side,
            f.c.quantity,
            f.c.price,
            f.c.fee,
            f.c.fee_currency,
            f.c.fee_price,
            f.c.fee_quote,
            f.c.liquidity,
            f.c.event_time,
            f.c.mode,
        )
    e, o = schema.order_events, schema.orders
    return sa.select(
        e.c.id.label("row_id"),
        o.c.client_order_id,
        o.c.exchange_order_id,
        o.c.intent_id,
        o.c.strategy,
        o.c.exchange,
        o.c.symbol,
        o.c.side,
        o.c.order_type,
        o.c.quantity,
        o.c.price.label("limit_price"),
        o.c.stop_price,
        e.c.state,
        e.c.filled_quantity,
        e.c.average_price,
        e.c.fee,
        e.c.reason,
        o.c.created_at,
        e.c.event_time.label("updated_at"),
        o.c.mode,
    ).join(o, o.c.client_order_id == e.c.client_order_id)


def _id_column(stream: str) -> sa.Column[int]:
    return schema.fills.c.id if stream == "fills" else schema.order_events.c.id


def _time_column(stream: str) -> sa.Column[datetime]:
    return schema.fills.c.event_time if stream == "fills" else schema.order_events.c.event_time
