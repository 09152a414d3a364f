"""The operator's release ledger of held bars: an append-only JSON-lines file.

``trading data release EXCHANGE SYMBOL TIMEFRAME TS`` appends one row; the next ``raw/ohlcv``
run of that bar's partition reads the ledger and no longer holds the bar
(``trading_core.quality.spike_policy``, status ``released_operator``). The command writes
this file and never the warehouse: only Dagster runs write the warehouse (ARCHITECTURE.md
invariant 1), and a file read by the ingest asset needs no lock on it. The file is also the
audit trail: every row says who released which bar, when and why; nothing is ever rewritten.

Location: ``$TRADING_HOME/operator/data_releases.jsonl``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from trading_core.timeframes import floor_time, naive_utc, timeframe_seconds

LEDGER_NAME = Path("operator") / "data_releases.jsonl"
REQUIRED = ("exchange", "symbol", "timeframe", "ts", "released_by", "released_at", "reason")


class ReleaseError(ValueError):
    """A release request or ledger row is unusable; the message names the field or line."""


@dataclass(frozen=True)
class Release:
    exchange: str
    symbol: str  # unified, BTC/USDT
    timeframe: str
    ts: datetime  # open time of the released bar, naive UTC
    released_by: str
    released_at: datetime
    reason: str

    @property
    def key(self) -> tuple[str, str, str, datetime]:
        return (self.exchange, self.symbol, self.timeframe, self.ts)

    def as_json(self) -> str:
        row = asdict(self)
        row["ts"] = self.ts.isoformat()
        row["released_at"] = self.released_at.isoformat()
        return json.dumps(row, sort_keys=True)


def ledger_path(home: Path) -> Path:
    """The release ledger under ``TRADING_HOME``."""
    return home / LEDGER_NAME


def parse_bar_time(value: str, timeframe: str) -> datetime:
    """The open time ``value`` (ISO 8601; naive means UTC) of a bar of ``timeframe``; it
    must lie on the timeframe's grid."""
    try:
        timeframe_seconds(timeframe)
    except ValueError as err:
        raise ReleaseError(f"timeframe: {err}") from err
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise ReleaseError(f"ts: {value!r} is not an ISO-8601 time ({err})") from err
    if pd.isna(stamp):
        raise ReleaseError(f"ts: {value!r} is not a time")
    ts = naive_utc(stamp.to_pydatetime())
    if floor_time(ts, timeframe) != ts:
        raise ReleaseError(f"ts: {value} is not the open time of a {timeframe} bar")
    return ts


def make_release(
    exchange: str,
    symbol: str,
    timeframe: str,
    ts: str,
    released_by: str,
    reason: str,
    now: datetime,
) -> Release:
    """A validated release; errors name the field."""
    for name, value in (("exchange", exchange), ("released_by", released_by)):
        if not value or not value.strip():
            raise ReleaseError(f"{name} must not be empty")
    if "/" not in symbol or symbol.startswith("/") or symbol.endswith("/"):
        raise ReleaseError(f"symbol: {symbol!r} must be unified, like BTC/USDT")
    if not reason or not reason.strip():
        raise ReleaseError("reason must not be empty: say why the bar is right")
    return Release(
        exchange, symbol, timeframe, parse_bar_time(ts, timeframe), released_by, naive_utc(now),
        reason.strip(),
    )  # fmt: skip


def append_release(path: Path, release: Release) -> None:
    """Append one row (created with the owner's permissions only); flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(release.as_json() + "\n")
        out.flush()
        os.fsync(out.fileno())


def _row(line: str, number: int, path: Path) -> Release:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise ReleaseError(f"{path} line {number}: not JSON ({err})") from err
    if not isinstance(data, dict):
        raise ReleaseError(f"{path} line {number}: not a JSON object")
    missing = [key for key in REQUIRED if not isinstance(data.get(key), str)]
    if missing:
        raise ReleaseError(f"{path} line {number}: missing or non-text fields {missing}")
    try:
        released_at = datetime.fromisoformat(data["released_at"])
        return Release(
            data["exchange"], data["symbol"], data["timeframe"],
            parse_bar_time(data["ts"], data["timeframe"]), data["released_by"],
            released_at, data["reason"],
        )  # fmt: skip
    except (ReleaseError, ValueError) as err:
        raise ReleaseError(f"{path} line {number}: {err}") from err


def read_releases(path: Path) -> list[Release]:
    """Every row of the ledger, in order; no file is no release. A bad row is an error naming
    its line: a release must never be lost silently."""
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            rows.append(_row(line, number, path))
    return rows


def released_bars(
    releases: list[Release], exchange: str, symbol: str, timeframe: str
) -> set[datetime]:
    """Open times released for one series."""
    return {
        r.ts
        for r in releases
        if (r.exchange, r.symbol, r.timeframe) == (exchange, symbol, timeframe)
    }


def release_times(
    releases: list[Release], exchange: str, symbol: str, timeframe: str
) -> dict[datetime, datetime]:
    """Per released bar (open time) of one series, when it was first released
    (``released_at``): from then on live has it in its history (``spike_visibility``)."""
    out: dict[datetime, datetime] = {}
    for r in releases:
        if (r.exchange, r.symbol, r.timeframe) == (exchange, symbol, timeframe):
            at = naive_utc(r.released_at)
            out[r.ts] = min(at, out.get(r.ts, at))
    return out
