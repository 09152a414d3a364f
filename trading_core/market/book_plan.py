"""What a raw/order_book_snapshots run fetches for one daily partition, and its outcomes.

Offline backends (sim, replay) snapshot the day's grid (every 5 minutes). A past day is
always snapshotted whole. The day in progress resumes after its last stored snapshot when the
partition's stored rows passed every check (``raw.partition_checks``) and every exchange
stopped at the same snapshot: only the new grid moments are fetched, and only the slice
after that snapshot is replaced. Otherwise (nothing stored, a failed check, exchanges out of
step, checks never recorded) the whole grid is fetched again, as before.

That is exactly as strict as validating the whole partition: every order-book check is per
row or per snapshot (``trading_core.quality.order_book``), the new snapshots are all later
than the stored ones, so the whole partition passes iff the stored head passed (recorded)
and the new slice passes; its outcomes then say ``0 of N rows fail`` with N the head's rows
plus the new ones, the same words and numbers a whole-partition validation gives. A new slice
that fails any check makes the run fetch and validate that partition whole.

The run's frames are validated in one Great Expectations suite (the suite's fixed cost paid
once, not per partition) when they share their column types; if that joint suite finds any
failure, each partition is validated on its own, so failing outcomes are always exactly the
partition's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd

from trading_core.quality import CheckOutcome, validate_order_book
from trading_core.quality.order_book import ORDER_BOOK_CHECK_SPECS

ASSET_KEY = "raw/order_book_snapshots"


@dataclass(frozen=True)
class StoredBook:
    """What the warehouse holds of one partition of the day in progress."""

    last_by_exchange: dict[str, datetime]  # newest stored snapshot per exchange
    rows: int  # level rows in raw.order_book_snapshots
    checks_passed: bool  # every check of the partition recorded and passed


def read_stored_book(
    conn: duckdb.DuckDBPyConnection, key: str, symbol: str, start: datetime, end: datetime
) -> StoredBook:
    """The partition's stored state (both tables for the newest snapshot: a snapshot kept
    out whole, e.g. crossed, is still stored)."""
    last = conn.execute(
        "select exchange, max(snapshot_ts) from (select exchange, snapshot_ts from "
        "raw.order_book_snapshots where symbol = ? and snapshot_ts >= ? and snapshot_ts < ? "
        "union all select exchange, snapshot_ts from raw.order_book_quarantine "
        "where symbol = ? and snapshot_ts >= ? and snapshot_ts < ?) group by exchange",
        [symbol, start, end, symbol, start, end],
    ).fetchall()
    (rows,) = conn.execute(
        "select count(*) from raw.order_book_snapshots "
        "where symbol = ? and snapshot_ts >= ? and snapshot_ts < ?",
        [symbol, start, end],
    ).fetchone() or (0,)
    checks = dict(
        conn.execute(
            "select check_name, passed from raw.partition_checks "
            "where asset_key = ? and partition_key = ?",
            [ASSET_KEY, key],
        ).fetchall()
    )
    passed = all(checks.get(spec.name) is True for spec in ORDER_BOOK_CHECK_SPECS)
    return StoredBook({exchange: ts for exchange, ts in last if ts is not None}, int(rows), passed)


def resume_after(stored: StoredBook | None, exchanges: list[str]) -> datetime | None:
    """The stored snapshot the partition resumes after, or None: fetch the whole grid."""
    if stored is None or not stored.checks_passed or stored.rows == 0:
        return None
    lasts = {stored.last_by_exchange.get(exchange) for exchange in exchanges}
    if len(lasts) != 1 or None in lasts or set(stored.last_by_exchange) - set(exchanges):
        return None
    return lasts.pop()


def passing_outcomes(rows: int) -> list[CheckOutcome]:
    """The outcomes of a whole-partition validation of ``rows`` rows that all pass."""
    return [
        CheckOutcome(
            name=spec.name,
            passed=True,
            severity=spec.severity,
            failing_count=0,
            examples=[],
            requirement=spec.description,
            detail=f"0 of {rows} rows fail",
            max_listed=spec.max_listed,
        )
        for spec in ORDER_BOOK_CHECK_SPECS
    ]


def _passed(outcomes: list[CheckOutcome]) -> bool:
    return all(o.passed for o in outcomes)


def validate_books(frames: dict[str, pd.DataFrame]) -> dict[str, list[CheckOutcome]]:
    """``validate_order_book`` of every frame, equal to one call per frame, with one suite
    for all the non-empty frames that share their column types when they all pass."""
    joint = [key for key, frame in frames.items() if len(frame)]
    dtypes = {tuple(map(str, frames[key].dtypes)) for key in joint}
    if len(joint) > 1 and len(dtypes) == 1:
        columns = {tuple(frames[key].columns) for key in joint}
        whole = pd.concat([frames[key] for key in joint], ignore_index=True)
        if len(columns) == 1 and _passed(validate_order_book(whole)):
            done = {key: passing_outcomes(len(frames[key])) for key in joint}
            return {
                key: done[key] if key in done else validate_order_book(frame)
                for key, frame in frames.items()
            }
    return {key: validate_order_book(frame) for key, frame in frames.items()}


def with_head(
    outcomes: list[CheckOutcome], head_rows: int, new_rows: int
) -> list[CheckOutcome] | None:
    """The whole partition's outcomes from those of its new slice of ``new_rows`` rows, given
    a stored head of ``head_rows`` that passed every check; None when the slice failed a
    check (then the partition is validated whole)."""
    if not _passed(outcomes):
        return None
    return passing_outcomes(head_rows + new_rows)
