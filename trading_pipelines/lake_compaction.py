"""The lake's retention: old reported batches merged into one file per stream and day.

The executor writes one Parquet batch per publish cycle with new events
(``lake/execution/<stream>/date=YYYY-MM-DD/<batch_id>.parquet``), so the number of files
grows with time even when trading is quiet. The rows themselves are never deleted: the
journals (``stg_fills`` -> ``fct_trade_journal``, ``fct_positions``, P&L) are rebuilt from
every fill in the lake, so dropping old fills would falsify positions and P&L; their size is
bounded by the number of trades, not by time.

``compact_lake`` merges, for each day older than ``retention.lake_compact_after_days``, the
batches the outbox records as **reported** to Dagster (an unreported or unwritten batch is
the executor's to finish, and its path is in the outbox) into ``compacted.parquet`` with the
same columns and rows (``published_at`` and ``batch_id`` included, so the staging models'
deduplication sees the same data). The merged file is written under a temporary name and
renamed before any batch is deleted: a crash leaves duplicates of identical rows, which the
next pass drops, never a loss.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from executor import schema

COMPACTED = "compacted.parquet"
STREAMS = ("fills", "orders")


@dataclass
class LakeCompaction:
    days: int = 0  # day folders merged
    merged_files: int = 0  # batch files folded into a compacted file (and deleted)


def reported_batches(ledger_url: str, before: date) -> set[Path]:
    """Paths of the batches reported to Dagster whose event date is before ``before`` (one
    read-only query on the executor's outbox)."""
    table = schema.publish_outbox
    engine = sa.create_engine(ledger_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.path).where(
                    table.c.reported_at.is_not(None), table.c.event_date < before
                )
            ).all()
    finally:
        engine.dispose()
    return {Path(row.path).resolve() for row in rows}


def _day(folder: Path) -> date | None:
    try:
        return date.fromisoformat(folder.name.removeprefix("date="))
    except ValueError:
        return None


def _distinct_rows(table: pa.Table) -> pa.Table:
    """The rows of ``table`` without exact duplicates, in their first order."""
    seen: set[tuple] = set()
    keep = []
    for row in table.to_pylist():
        identity = tuple(row.items())
        if identity not in seen:
            seen.add(identity)
            keep.append(row)
    return pa.Table.from_pylist(keep, schema=table.schema)


def _merge(folder: Path, batches: list[Path]) -> None:
    target = folder / COMPACTED
    parts = [pq.read_table(path) for path in ([target] if target.exists() else []) + batches]
    merged = _distinct_rows(pa.concat_tables(parts, promote_options="default"))
    tmp = folder / f".{COMPACTED}.tmp"
    try:
        pq.write_table(merged, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for path in batches:
        path.unlink(missing_ok=True)


def compact_lake(lake: Path, before: date, reported: Callable[[], set[Path]]) -> LakeCompaction:
    """Merge the reported batches of every day before ``before`` (see the module doc);
    ``reported`` (the outbox query) is asked only when such a day holds a batch file."""
    report = LakeCompaction()
    folders = [
        folder
        for stream in STREAMS
        for folder in sorted((lake / "execution" / stream).glob("date=*"))
        if folder.is_dir() and (day := _day(folder)) is not None and day < before
    ]
    if not any(p.name != COMPACTED for folder in folders for p in folder.glob("*.parquet")):
        return report
    done = reported()
    for folder in folders:
        batches = sorted(
            path
            for path in folder.glob("*.parquet")
            if path.name != COMPACTED and path.resolve() in done
        )
        if batches:
            _merge(folder, batches)
            report.days += 1
            report.merged_files += len(batches)
    return report
