"""Reading JSON-lines replay files without losing a line.

Every non-blank line becomes either a record or a reject, each with its origin
(``file.jsonl:line``) so a quarantined row points back to the exact line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
