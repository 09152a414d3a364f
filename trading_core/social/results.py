"""What every text and on-chain backend returns: rows, rejects, notes; and how it fails.

Malformed input is never dropped silently. A backend collects each record it cannot turn into
a row (bad JSON line, missing field, unparseable date, non-numeric value) in a
:class:`RejectLog`, and returns a :class:`FetchResult` whose ``rejects`` frame has exactly the
columns of ``raw.quarantine``: ``asset_key`` (the raw asset that rejected it), ``partition_key``
(None until the caller stamps it with :meth:`FetchResult.for_partition`), ``reason`` (short,
groupable, then details), ``payload`` (JSON: where the record came from and the record as read)
and ``ingested_at``. The ingest asset writes ``rejects`` to ``raw.quarantine``; a check flags them.

Which rejects a windowed fetch reports: those whose event time is inside the window, and those
with no usable event time at all (they cannot be placed in any window, so every fetch that reads
them reports them again rather than hiding them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pandas as pd

from trading_core.warehouse import table_columns

QUARANTINE_TABLE = "raw.quarantine"
QUARANTINE_COLUMNS: list[str] = table_columns(QUARANTINE_TABLE)


class RecordRejected(ValueError):
    """A record cannot become a row; the message is the quarantine reason."""


# A quarantined record keeps at most this much of any one text (a 4 MB post would otherwise be
# copied whole into raw.quarantine); the cut says how long the text was.
PAYLOAD_TEXT_CHARS = 2_000


def to_payload(value: Any) -> str:
    """A record as stable JSON text (sorted keys; dates and other objects as strings)."""
    return json.dumps(_clipped(value), sort_keys=True, default=str, ensure_ascii=False)


def _clipped(value: Any) -> Any:
    if isinstance(value, str) and len(value) > PAYLOAD_TEXT_CHARS:
        return f"{value[:PAYLOAD_TEXT_CHARS]}... [{len(value):,} characters in all]"
    if isinstance(value, dict):
        return {key: _clipped(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clipped(item) for item in value]
    return value


@dataclass
class RejectLog:
    """Collects the records one fetch could not use, for ``raw.quarantine``."""

    asset_key: str
    ingested_at: datetime
    _rows: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)

    def add(self, reason: str, *, origin: str, record: Any) -> None:
        """Reject ``record`` (as read: dict or raw text) found at ``origin`` for ``reason``."""
        self._rows.append(
            {
                "asset_key": self.asset_key,
                "partition_key": None,
                "reason": reason,
                "payload": to_payload({"origin": origin, "record": record}),
                "ingested_at": self.ingested_at,
            }
        )

    def __len__(self) -> int:
        return len(self._rows)

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self._rows, columns=QUARANTINE_COLUMNS)
        frame["partition_key"] = frame["partition_key"].astype(object)
        frame["ingested_at"] = pd.to_datetime(frame["ingested_at"]).astype("datetime64[us]")
        return frame


@dataclass(frozen=True)
class FetchResult:
    """Rows for one raw table, the rejects for ``raw.quarantine``, and notes for the run log.

    ``notes`` are human-readable remarks worth showing as asset metadata (for example a window
    clamped to what an API can serve); they never stand in for rejects.
    """

    frame: pd.DataFrame
    rejects: pd.DataFrame
    notes: tuple[str, ...] = ()

    def for_partition(self, partition_key: str | None) -> FetchResult:
        """The same result with every reject stamped with ``partition_key``."""
        rejects = self.rejects.copy()
        rejects["partition_key"] = pd.Series(
            [partition_key] * len(rejects), index=rejects.index, dtype=object
        )
        return replace(self, rejects=rejects)


class SourceError(RuntimeError):
    """A live source failed for good (after its retries); the message names source and request."""
