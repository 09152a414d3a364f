"""The ledger's records the drift report reads: intents, orders and fills up to a window's
end, each instance's realized P&L, and the ledger's mode. Plain SQL over SQLAlchemy (SQLite
or PostgreSQL), SELECTs only, in one connection; the ledger's tables belong to ``executor/``
(``executor.schema``), so this module names only the columns it reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from trading_core.reports.drift_live import FILL_COLUMNS, INTENT_COLUMNS, ORDER_COLUMNS

TIME_COLUMNS = ("bar_ts", "decided_at", "event_time")


class LedgerReadError(RuntimeError):
    """The ledger cannot be read (missing tables, an unreachable database)."""


@dataclass(frozen=True)
class LedgerFrames:
    intents: pd.DataFrame
    orders: pd.DataFrame
    fills: pd.DataFrame
    realized: dict[str, float]  # instance -> realized P&L net of fees, every symbol
    mode: str | None  # the fills' modes (paper, testnet, live), None before any fill

    def instances_traded(self, start: datetime, end: datetime) -> list[str]:
        """Instances with an intent decided or a fill in ``[start, end)``."""
        names: set[str] = set()
        for frame, column in ((self.intents, "decided_at"), (self.fills, "event_time")):
            if frame.empty:
                continue
            at = pd.to_datetime(frame[column])
            inside = frame[(at >= pd.Timestamp(start)) & (at < pd.Timestamp(end))]
            names |= {str(x) for x in inside["instance_id"].fillna("default")}
        return sorted(names)


def _frame(conn: sa.Connection, table: str, columns: tuple[str, ...], where: str,
           params: Mapping[str, object]) -> pd.DataFrame:  # fmt: skip
    sql = f"select {', '.join(columns)} from {table} {where}"  # the names are fixed, never input
    # typed, so SQLite compares the stored text with a value in its own format
    query = sa.text(sql).bindparams(*(sa.bindparam(k, type_=sa.DateTime) for k in params))
    frame = pd.DataFrame(conn.execute(query, params).fetchall(), columns=list(columns))
    for column in TIME_COLUMNS:
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column])
    return frame


def empty_frames() -> LedgerFrames:
    """A ledger nothing was recorded in yet."""
    return LedgerFrames(
        pd.DataFrame(columns=list(INTENT_COLUMNS)),
        pd.DataFrame(columns=list(ORDER_COLUMNS)),
        pd.DataFrame(columns=list(FILL_COLUMNS)),
        {},
        None,
    )


def read_ledger(url: str, end: datetime, since: datetime = datetime.min) -> LedgerFrames:
    """What was recorded in ``[since, end)``: intents by ``decided_at``, fills by
    ``event_time``, orders by ``created_at`` (a report reads a few days before its window, not
    the ledger's whole history). A SQLite ledger that does not exist yet, or holds none of the
    tables, has recorded nothing (and is not created)."""
    try:
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            path = Path(parsed.database)
            if not path.is_file():
                return empty_frames()
            # read-only: reading never creates or changes the executor's file
            parsed = parsed.set(database=f"file:{path}?mode=ro").update_query_dict({"uri": "true"})
        engine = sa.create_engine(parsed)
    except (sa.exc.SQLAlchemyError, ImportError, ValueError) as exc:
        raise LedgerReadError(f"the ledger URL is not usable: {type(exc).__name__}") from None
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
            missing = {"intents", "orders", "fills", "positions"} - present
            if len(missing) == 4:
                return empty_frames()
            if missing:
                raise LedgerReadError(f"not a ledger: it has no table(s) {sorted(missing)}")
            span = {"since": since, "end": end}
            intents = _frame(
                conn,
                "intents",
                INTENT_COLUMNS,
                "where decided_at >= :since and decided_at < :end",
                span,
            )
            orders = _frame(
                conn,
                "orders",
                ORDER_COLUMNS,
                "where created_at >= :since and created_at < :end",
                span,
            )
            fills = _frame(conn, "fills", FILL_COLUMNS,
                           "where event_time >= :since and event_time < :end", span)  # fmt: skip
            rows = conn.execute(
                sa.text("select instance_id, sum(realized_pnl_net) from positions group by 1")
            ).fetchall()
            modes = conn.execute(sa.text("select distinct mode from fills")).fetchall()
    except sa.exc.SQLAlchemyError as exc:
        raise LedgerReadError(f"cannot read the ledger: {type(exc).__name__}: {exc}") from None
    finally:
        engine.dispose()
    realized = {str(name or "default"): float(value or 0.0) for name, value in rows}
    mode = ", ".join(sorted(str(m[0]) for m in modes)) or None
    return LedgerFrames(intents, orders, fills, realized, mode)
