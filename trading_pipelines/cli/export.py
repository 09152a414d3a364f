"""``trading export tax --format koinly|cointracking|generic [--year Y] --out FILE``.

A tax-ready CSV of the ledger's fills, one row per fill with its fee, read from the ledger
alone (no warehouse, no Dagster): ``koinly`` (Koinly's universal template), ``cointracking``
(CoinTracking's CSV import) or ``generic`` (FIFO cost basis, proceeds and realized gain per
sale, fees included; ``trading_core.tax`` states the conventions). ``--year`` keeps the fills
of one calendar year (UTC); the cost basis still comes from the lots of every earlier year.
All years when it is left out. A ledger without fills (for that year) writes the header only
and says so. The file is written whole or not at all. Exit status 0, or 2 with one line
naming the problem (a bad flag, an unwritable --out, a missing ledger, a fill the export
cannot use).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from trading_pipelines.cli import CliError

# The fills columns the export reads (all of them exist since the ledger's first schema).
FILL_COLUMNS = (
    "id",
    "exchange",
    "trade_id",
    "symbol",
    "side",
    "quantity",
    "price",
    "fee",
    "fee_currency",
    "event_time",
    "strategy",
    "mode",
)


def _year(text: str) -> int:
    from trading_core.tax import MAX_YEAR, MIN_YEAR

    try:
        year = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a year (e.g. 2025)") from None
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise argparse.ArgumentTypeError(f"{year}: give a year from {MIN_YEAR} to {MAX_YEAR}")
    return year


def register(sub: argparse._SubParsersAction) -> None:
    """``export tax``."""
    group = sub.add_parser("export", help="exports of the ledger (tax-ready CSV)")
    kinds = group.add_subparsers(dest="export_command", required=True)
    tax = kinds.add_parser(
        "tax",
        help="one CSV row per fill: koinly | cointracking | generic (FIFO gains)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tax.add_argument("--format", required=True, choices=("koinly", "cointracking", "generic"))
    tax.add_argument("--year", type=_year, default=None, help="one calendar year (UTC)")
    tax.add_argument("--out", required=True, metavar="FILE", help="the CSV file to write")
    tax.add_argument(
        "--ledger-url",
        default=None,
        help="default: TRADING_LEDGER_URL or the SQLite ledger under TRADING_HOME",
    )
    tax.set_defaults(run=tax_command)


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def _read_only_url(url: str) -> str:
    """``url``, for SQLite opened read-only (never creating a file); others as given."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise CliError(f"--ledger-url {_shown(url)}: not a database URL") from err
    if not parsed.drivername.startswith("sqlite"):
        return url
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise CliError(f"--ledger-url {_shown(url)}: name the ledger's file")
    path = Path(database).expanduser().resolve()
    if not path.is_file():
        raise CliError(f"no ledger at {path} (the executor creates it on its first start)")
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def read_ledger_fills(url: str) -> list[dict[str, Any]]:
    """Every fill of the ledger at ``url`` (columns ``FILL_COLUMNS``), oldest first, read in
    one read-only transaction."""
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError

    from executor import schema

    try:
        engine = sa.create_engine(_read_only_url(url))
    except (SQLAlchemyError, ImportError) as err:  # an unknown dialect or a missing driver
        raise CliError(f"--ledger-url {_shown(url)}: {err}") from err
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table("fills"):
                raise CliError(f"{_shown(url)} has no fills table: not a ledger")
            present = {c["name"] for c in inspector.get_columns("fills")}
            missing = [c for c in FILL_COLUMNS if c not in present]
            if missing:
                raise CliError(f"{_shown(url)}: the fills table lacks {', '.join(missing)}")
            columns = [schema.fills.c[name] for name in FILL_COLUMNS]  # typed: datetimes
            query = sa.select(*columns).order_by(schema.fills.c.event_time, schema.fills.c.id)
            return [dict(row) for row in conn.execute(query).mappings()]
    except SQLAlchemyError as err:
        raise CliError(f"cannot read the ledger {_shown(url)}: {err}") from err
    finally:
        engine.dispose()


def write_atomically(path: Path, text: str) -> None:
    """``text`` into ``path`` whole or not at all (a temporary file renamed over it)."""
    target = path.expanduser()
    if target.is_dir():
        raise CliError(f"--out {path}: is a directory")
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent or Path("."), prefix=".tax-")
    except OSError as err:
        raise CliError(f"cannot write --out {path}: {err.strerror or err}") from err
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temporary, 0o600)  # a tax file is nobody else's to read
        os.replace(temporary, target)
    except OSError as err:
        Path(temporary).unlink(missing_ok=True)
        raise CliError(f"cannot write --out {path}: {err.strerror or err}") from err


def tax_command(args: argparse.Namespace) -> int:
    from trading_core.config import ConfigError, get_paths
    from trading_core.tax import TaxExportError, export_table

    try:
        url = args.ledger_url or get_paths().ledger_url()
    except ConfigError as err:
        raise CliError(str(err)) from err
    fills = read_ledger_fills(url)
    try:
        table = export_table(fills, args.format, args.year)
    except TaxExportError as err:
        raise CliError(f"the ledger {_shown(url)}: {err}") from err
    write_atomically(Path(args.out), table.to_csv())
    modes = sorted({str(f["mode"]) for f in fills if f.get("mode") and f["mode"] != "live"})
    caveat = f" (fills from {', '.join(modes)} trading, not an exchange account)" if modes else ""
    print(f"wrote {args.out}: {table.note()}{caveat}")
    return 0
