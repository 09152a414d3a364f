"""The latest alerts from ``$TRADING_HOME/alerts.jsonl`` (what the sensors and the executor
append, ``executor.alerts``), read from the file's tail so a long file costs the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from executor.alerts import ALERTS_FILE

TAIL_BYTES = 256 * 1024


def latest_alerts(home: Path, limit: int = 50) -> dict[str, Any]:
    """Newest first; lines that are not alert objects are counted, never silently dropped."""
    path = home / ALERTS_FILE
    if not path.is_file():
        return {"alerts": [], "unreadable_lines": 0}
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - TAIL_BYTES))
        chunk = handle.read()
    lines = chunk.splitlines()
    if size > TAIL_BYTES and lines:
        lines = lines[1:]  # the first line is cut by the seek
    alerts: list[dict[str, Any]] = []
    unreadable = 0
    for raw in reversed(lines):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            unreadable += 1
            continue
        if not isinstance(record, dict) or not {"severity", "title"} <= set(record):
            unreadable += 1
            continue
        if len(alerts) < limit:
            alerts.append({k: record.get(k) for k in ("at", "severity", "title", "message")})
    return {"alerts": alerts, "unreadable_lines": unreadable}
