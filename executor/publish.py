"""Publishing: fills and order events to Parquet in the lake, each batch reported to Dagster.

Files: ``<lake>/execution/fills/date=YYYY-MM-DD/<batch_id>.parquet`` and the same under
``execution/orders`` (one row per order state change; the latest ``updated_at`` wins).

Exactly once, through the ledger's outbox (``executor.ledger.outbox``), in three steps that
each survive a crash:

1. allocate: one transaction fixes a batch's rows (a source id range and one event date),
   stores the batch in ``publish_outbox`` and moves the stream's cursor past them;
2. write: the batch's rows are read back and written to a temporary name, then renamed
   atomically (a crash rewrites the same file, never a second one);
3. report: ``POST {dagster_url}/report_asset_materialization/execution/fills`` (the asset
   key in the URL *path*, so Dagster splits it into ``["execution", "fills"]``), body
   ``{"metadata": {...}, "data_version": batch_id}``. While Dagster is down batches stay
   unreported in the outbox and are reported, oldest first, when it is back.

``publish()`` never raises. A failed cycle (ENOSPC writing Parquet, a ledger that cannot
write) leaves its rows where they were (unallocated, or allocated and unwritten in the outbox)
and the next cycle comes 1, 2, 4 ... s later (at most 60 s); it is logged and alerted once per
episode and the cycle that succeeds again logs ``recovered``. Nothing is lost or doubled: a
batch's rows and file name are fixed at allocation, so the retry writes the same file.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from executor.alerts import Alerter, RetryingWrite
from executor.ledger import Ledger, OutboxBatch
from trading_core.timeframes import utc_now

log = logging.getLogger("executor.publish")

STREAMS: tuple[str, ...] = ("fills", "orders")

_TS = pa.timestamp("us")
FILLS_SCHEMA = pa.schema(
    [
        ("fill_id", pa.string()),
        ("exchange", pa.string()),
        ("trade_id", pa.string()),
        ("client_order_id", pa.string()),
        ("exchange_order_id", pa.string()),
        ("intent_id", pa.string()),
        ("strategy", pa.string()),
        ("symbol", pa.string()),
        ("side", pa.string()),
        ("quantity", pa.float64()),
        ("price", pa.float64()),
        ("fee", pa.float64()),
        ("fee_currency", pa.string()),
        ("liquidity", pa.string()),
        ("event_time", _TS),
        ("mode", pa.string()),
        ("published_at", _TS),
        ("batch_id", pa.string()),
        # (appended: older batches lack them)
        # quote per unit of fee_currency when it is a third currency (BNB), and the fee in
        # quote: the journals value fees with them (trading_core.accounting)
        ("fee_price", pa.float64()),
        ("fee_quote", pa.float64()),
    ]
)
ORDERS_SCHEMA = pa.schema(
    [
        ("client_order_id", pa.string()),
        ("exchange_order_id", pa.string()),
        ("intent_id", pa.string()),
        ("strategy", pa.string()),
        ("exchange", pa.string()),
        ("symbol", pa.string()),
        ("side", pa.string()),
        ("order_type", pa.string()),
        ("quantity", pa.float64()),
        ("limit_price", pa.float64()),
        ("stop_price", pa.float64()),
        ("state", pa.string()),
        ("filled_quantity", pa.float64()),
        ("average_price", pa.float64()),
        ("fee", pa.float64()),
        ("reason", pa.string()),
        ("created_at", _TS),
        ("updated_at", _TS),
        ("mode", pa.string()),
        ("published_at", _TS),
        ("batch_id", pa.string()),
    ]
)
SCHEMAS: dict[str, pa.Schema] = {"fills": FILLS_SCHEMA, "orders": ORDERS_SCHEMA}
ASSET_KEYS: dict[str, str] = {"fills": "execution/fills", "orders": "execution/orders"}


# Rows of a batch listed in its materialization's ``contents`` table (the rest are counted).
CONTENTS_MAX_ROWS = 100


def contents_table(stream: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a batch holds, one entry per row (at most ``CONTENTS_MAX_ROWS``): symbol, side,
    price, quantity, fee, instance (the row's ``instance``, else its strategy label); orders
    add their state, and their price is the average fill price, else the limit price."""
    table = []
    for row in rows[:CONTENTS_MAX_ROWS]:
        price = row.get("price") if stream == "fills" else row.get("average_price")
        entry = {
            "symbol": row.get("symbol"),
            "side": row.get("side"),
            "price": price if price is not None else row.get("limit_price"),
            "quantity": row.get("quantity"),
            "fee": row.get("fee"),
            "instance": row.get("instance") or row.get("strategy"),
        }
        if stream == "orders":
            entry["state"] = row.get("state")
        table.append(entry)
    return table


class ReportFailed(RuntimeError):
    """Dagster did not accept a report (down, or it answered with an error)."""


class DagsterReporter:
    """Reports a batch as a runless materialization of an external asset."""

    def __init__(self, base_url: str, *, timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session: Any = None  # a requests.Session, opened by the first report

    def report(self, asset_key: str, metadata: dict[str, Any], data_version: str) -> None:
        # Lazy: requests costs ~0.1 s to import, and an executor with no fill never reports.
        import requests

        if self._session is None:
            self._session = requests.Session()
        url = f"{self.base_url}/report_asset_materialization/{asset_key}"
        try:
            response = self._session.post(
                url,
                json={"metadata": metadata, "data_version": data_version},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ReportFailed(f"POST {url}: {exc}") from exc
        if response.status_code >= 300:
            raise ReportFailed(f"POST {url}: HTTP {response.status_code} {response.text[:200]}")
        body = response.json() if response.content else {}
        if isinstance(body, dict) and body.get("error"):
            raise ReportFailed(f"POST {url}: {body['error']}")


@dataclass
class PublishReport:
    allocated: int = 0
    written: int = 0
    reported: int = 0
    unreported: int = 0
    error: str | None = None


def batch_path(lake: Path, stream: str, event_date: date, batch_id: str) -> Path:
    return lake / "execution" / stream / f"date={event_date:%Y-%m-%d}" / f"{batch_id}.parquet"


class Publisher:
    """Moves new ledger rows to the lake and reports them; call ``publish()`` every tick."""

    def __init__(
        self,
        ledger: Ledger,
        lake: Path,
        reporter: DagsterReporter | None,
        *,
        max_rows_per_batch: int = 50_000,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        alerter: Alerter | None = None,
    ):
        self.ledger = ledger
        self.outbox = ledger.outbox
        self.lake = lake
        self.reporter = reporter
        self.max_rows = max_rows_per_batch
        self._clock = clock
        self._monotonic = monotonic
        self._retry_at = 0.0
        self._backoff = 1.0
        self._cycles = RetryingWrite(
            f"publishing to the lake {lake}", log, alerter, monotonic=monotonic
        )

    def __call__(self) -> PublishReport:
        return self.publish()

    def publish(self) -> PublishReport:
        """One cycle: allocate, write, report. Never raises; a failure is in ``error``."""
        report = PublishReport()
        if not self._cycles.due():
            report.error = self._cycles.error
            return report
        try:
            for stream in STREAMS:
                report.allocated += self._allocate(stream)
            report.written = self._write_pending()
            if self.reporter is not None:
                report.reported, report.error = self._report_pending()
            report.unreported = self.unreported_count()
        except Exception as exc:  # a full disk or a failing ledger must not stop trading
            self._cycles.failed(exc)
            report.error = self._cycles.error
        else:
            self._cycles.succeeded()
        return report

    # -------------------------------------------------------------------------- allocate

    def _allocate(self, stream: str) -> int:
        return self.outbox.allocate(
            stream,
            max_rows=self.max_rows,
            clock=self._clock,
            path_of=lambda event_date, batch_id: batch_path(
                self.lake, stream, event_date, batch_id
            ),
        )

    # ----------------------------------------------------------------------------- write

    def _write_pending(self) -> int:
        pending = self.outbox.unwritten()
        for batch in pending:
            self._write_batch(batch)
            self.outbox.mark_written(batch, self._clock)
        return len(pending)

    def _write_batch(self, batch: OutboxBatch) -> None:
        rows = self.outbox.batch_rows(batch)
        if len(rows) != batch.rows:
            raise RuntimeError(
                f"batch {batch.batch_id} should hold {batch.rows} rows, the ledger has {len(rows)}"
            )
        table = pa.Table.from_pylist(rows, schema=SCHEMAS[batch.stream])
        path = Path(batch.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            pq.write_table(table, tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a partial file would hold space a full disk lacks
            raise

    # ---------------------------------------------------------------------------- report

    def unreported_count(self) -> int:
        return self.outbox.unreported_count()

    def _report_pending(self) -> tuple[int, str | None]:
        """Report written batches oldest first; stop at the first failure and back off."""
        assert self.reporter is not None
        if self._monotonic() < self._retry_at:
            return 0, None
        pending = self.outbox.unreported()
        reported = 0
        for batch in pending:
            metadata = {
                "batch_id": batch.batch_id,
                "rows": batch.rows,
                "path": batch.path,
                "event_date": batch.event_date.isoformat(),
                "first_event_time": batch.first_event_time.isoformat(),
                "last_event_time": batch.last_event_time.isoformat(),
                "mode": self.ledger.mode,
                "contents": contents_table(batch.stream, self.outbox.batch_rows(batch)),
            }
            try:
                self.reporter.report(ASSET_KEYS[batch.stream], metadata, batch.batch_id)
            except ReportFailed as exc:
                self.outbox.note_report_failed(batch, str(exc))
                self._retry_at = self._monotonic() + self._backoff
                self._backoff = min(self._backoff * 2, 60.0)
                log.warning(
                    "report to Dagster failed; will retry",
                    extra={"batch_id": batch.batch_id, "error": str(exc)},
                )
                return reported, str(exc)
            self.outbox.mark_reported(batch, self._clock)
            reported += 1
        self._backoff = 1.0
        return reported, None
