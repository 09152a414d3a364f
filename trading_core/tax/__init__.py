"""Tax-ready exports of the ledger's fills: Koinly, CoinTracking, and a generic FIFO layout.

Pure: fills in (mappings of the ledger's ``fills`` columns), CSV rows out. ``fifo`` computes
cost basis and realized gain per fill over the whole history; ``formats`` lays the rows out;
``export_table`` picks the format and the year.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from trading_core.tax.fifo import TaxExportError, TaxFill, TaxRow, amount, fifo_rows, tax_fill
from trading_core.tax.formats import FORMATS

FORMAT_NAMES = tuple(FORMATS)
MIN_YEAR, MAX_YEAR = 2009, 9999  # nothing traded in crypto before 2009


@dataclass(frozen=True)
class TaxTable:
    format: str
    year: int | None
    columns: tuple[str, ...]
    rows: list[list[str]]
    fills: list[TaxRow]  # the rows' fills and their FIFO results (of the year, if any)

    def note(self) -> str:
        """One line for the user: how many rows, or why there are none."""
        span = f"in {self.year}" if self.year is not None else "in the ledger"
        if not self.rows:
            return f"no fills {span}: wrote the {self.format} header only"
        return f"{len(self.rows)} fills {span} as {self.format}"

    def realized_gain(self) -> dict[str, str]:
        """Total realized gain by quote currency (sales with an uncovered part excluded)."""
        totals: dict[str, Any] = {}
        for row in self.fills:
            if row.gain is not None:
                totals[row.fill.quote] = totals.get(row.fill.quote, 0) + row.gain
        return {currency: amount(total) for currency, total in sorted(totals.items())}

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return buffer.getvalue()


def check_format(name: object) -> str:
    if name not in FORMATS:
        raise TaxExportError(f"format {name!r}: choose one of {', '.join(FORMAT_NAMES)}")
    return str(name)


def check_year(year: object) -> int | None:
    if year is None:
        return None
    if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
        raise TaxExportError(f"year {year!r}: give a year from {MIN_YEAR} to {MAX_YEAR}")
    return year


def export_table(fills: Iterable[Mapping[str, Any]], fmt: str, year: int | None = None) -> TaxTable:
    """The export of ``fills`` in format ``fmt``, for calendar year ``year`` (UTC) or all."""
    name, wanted = check_format(fmt), check_year(year)
    columns, render = FORMATS[name]
    rows = fifo_rows(fills)
    if wanted is not None:
        rows = [r for r in rows if r.fill.event_time.year == wanted]
    return TaxTable(name, wanted, tuple(columns), [render(r) for r in rows], rows)


__all__ = [
    "FORMAT_NAMES",
    "TaxExportError",
    "TaxFill",
    "TaxRow",
    "TaxTable",
    "check_format",
    "check_year",
    "export_table",
    "fifo_rows",
    "tax_fill",
]
