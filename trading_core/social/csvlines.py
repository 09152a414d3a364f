"""Reading CSV replay files without letting one bad line take the file down.

``pandas.read_csv`` stops at the first line with an extra field (``ParserError``) and fails the
whole file. Here every line is split on its own: a line whose field count differs from the
header's, or that is not UTF-8, is rejected alone (``malformed line``, with its line number) and
the good lines are kept. A file is refused (one reject for the whole file) only when it cannot
be read at all: unreadable, empty, or without a header.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trading_core.social.results import RejectLog


@dataclass(frozen=True)
class CsvTable:
    """The well-formed lines of a CSV file: ``frame`` holds the header's columns (as text)
    plus ``line``, the 1-based line number in the file."""

    header: list[str]
    frame: pd.DataFrame


def read_csv_lines(path: Path, rejects: RejectLog) -> CsvTable | None:
    """The well-formed lines of ``path``; malformed lines go to ``rejects`` one by one. None
    (after one file-level reject) when the file cannot be read at all."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        rejects.add(f"unreadable file: {exc}", origin=path.name, record=None)
        return None
    header: list[str] | None = None
    lines: list[int] = []
    rows: list[list[str]] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        origin = f"{path.name}:{number}"
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            if header is None:
                rejects.add(
                    f"unreadable file: header is not UTF-8 ({exc.reason})",
                    origin=origin,
                    record=raw[:200].decode("utf-8", errors="replace"),
                )
                return None
            rejects.add(
                f"malformed line: not UTF-8 ({exc.reason})",
                origin=origin,
                record=raw.decode("utf-8", errors="replace"),
            )
            continue
        if not text.strip():
            continue
        fields = next(csv.reader([text]))
        if header is None:
            header = [name.strip() for name in fields]
            continue
        if len(fields) != len(header):
            rejects.add(
                f"malformed line: expected {len(header)} fields ({','.join(header)}), "
                f"got {len(fields)}",
                origin=origin,
                record=text,
            )
            continue
        lines.append(number)
        rows.append(fields)
    if header is None:
        rejects.add("unreadable file: no header line", origin=path.name, record=None)
        return None
    frame = (
        pd.DataFrame(rows, columns=header, dtype=object)
        if rows
        else pd.DataFrame(columns=header, dtype=object)
    )
    frame = frame.astype(str)
    frame["line"] = lines
    return CsvTable(header, frame)
