"""Reading JSON-lines replay files without losing a line.

Every non-blank line becomes either a record or a reject, each with its origin
(``file.jsonl:line``) so a quarantined row points back to the exact line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from trading_core.social.results import RecordRejected, RejectLog

if TYPE_CHECKING:
    from trading_core.quality.alt_records import Horizon

Row = TypeVar("Row")


@dataclass(frozen=True)
class Line:
    origin: str  # "<file name>:<line number>"
    record: dict[str, Any] | None  # the parsed object, or None when the line is not one
    raw: str
    error: str | None = None  # why the line is not a JSON object


def replay_files(path: Path | str, pattern: str) -> list[Path]:
    """``path`` itself if it is a file, else the files in it matching ``pattern``, sorted.

    Fails when nothing matches: an empty replay is a configuration mistake, not "no data".
    """
    root = Path(path).expanduser()
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"replay path {root} is neither a file nor a directory")
    files = sorted(p for p in root.glob(pattern) if p.is_file())
    if not files:
        raise FileNotFoundError(f"no replay files matching {pattern!r} in {root}")
    return files


def read_lines(files: list[Path]) -> Iterator[Line]:
    """Each non-blank line of ``files`` as a parsed record or as an error, in file order."""
    for file in files:
        with file.open(encoding="utf-8", errors="replace") as handle:
            for number, raw in enumerate(handle, start=1):
                text = raw.strip()
                if not text:
                    continue
                origin = f"{file.name}:{number}"
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield Line(origin, None, text, f"invalid JSON: {exc.msg}")
                    continue
                if not isinstance(record, dict):
                    kind = type(record).__name__
                    yield Line(origin, None, text, f"invalid JSON: expected an object, got {kind}")
                    continue
                yield Line(origin, record, text)


def rows_in_window(
    lines: Iterable[Line],
    lo: datetime,
    hi: datetime,
    rejects: RejectLog,
    parse: Callable[[dict[str, Any]], Row],
    event_time: Callable[[Row], datetime],
    try_event_time: Callable[[dict[str, Any]], datetime | None],
    shown: Callable[[dict[str, Any]], Any] = lambda record: record,
    horizon: Horizon | None = None,
    time_column: str = "published_at",
) -> list[Row]:
    """The rows of ``lines`` whose event time lies in ``[lo, hi)``; every line that is not a
    row goes to ``rejects`` with its reason, except a dated record outside the window (it
    belongs to another fetch's quarantine). A record dated outside ``horizon`` (no partition
    can hold it) is rejected by every fetch, like one without a usable date. ``shown`` is what a
    reject's payload keeps of the record (e.g. without user names)."""
    rows = []
    for line in lines:
        if line.record is None:
            rejects.add(line.error or "invalid JSON", origin=line.origin, record=line.raw)
            continue
        try:
            row = parse(line.record)
        except RecordRejected as exc:
            when = try_event_time(line.record)
            stray = when is not None and horizon is not None and not horizon.contains(when)
            if when is None or stray or lo <= when < hi:
                rejects.add(str(exc), origin=line.origin, record=shown(line.record))
            continue
        when = event_time(row)
        problem = horizon.problem(time_column, when) if horizon is not None else None
        if problem is not None:
            rejects.add(problem, origin=line.origin, record=shown(line.record))
        elif lo <= when < hi:
            rows.append(row)
    return rows
