"""exports/tax_csv: the tax-ready CSVs of the ledger's fills, in every format.

Read from the ledger alone (``LedgerResource``; never the warehouse, so it takes no warehouse
pool slot and waits behind nothing), written under ``TRADING_HOME/exports/``:
``tax_koinly.csv``, ``tax_cointracking.csv`` and ``tax_generic.csv`` (all years), or
``tax_<format>_<year>.csv`` when the run's config names a year. The same code as
``trading export tax`` (``trading_core.tax``, ``trading_pipelines.cli.export``).
"""

from pathlib import Path

import dagster as dg

from assets.execution import FILLS
from trading_pipelines.resources.ledger import LedgerResource

TAX_CSV_KEY = dg.AssetKey(["exports", "tax_csv"])
PREVIEW_ROWS = 20


class TaxCsvConfig(dg.Config):
    """One calendar year (UTC), or every year when left out."""

    year: int | None = None


def build_tax_csv_asset(exports_dir: Path) -> dg.AssetsDefinition:
    @dg.asset(
        key=TAX_CSV_KEY,
        deps=[FILLS.key],
        group_name="exports",
        kinds={"csv"},
        description=(
            "Tax-ready CSVs of the ledger's fills, one row per fill with its fee: Koinly's "
            "universal template, CoinTracking's CSV import and a generic layout with FIFO cost "
            "basis and realized gain per sale, under TRADING_HOME/exports/."
        ),
    )
    def tax_csv(
        context: dg.AssetExecutionContext, config: TaxCsvConfig, ledger: LedgerResource
    ) -> dg.MaterializeResult:
        from trading_core.tax import FORMAT_NAMES, TaxExportError, export_table
        from trading_pipelines.cli import CliError
        from trading_pipelines.cli.export import read_ledger_fills, write_atomically

        suffix = f"_{config.year}" if config.year is not None else ""
        try:
            fills = read_ledger_fills(ledger.url)
            tables = {fmt: export_table(fills, fmt, config.year) for fmt in FORMAT_NAMES}
            exports_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            written = {}
            for fmt, table in tables.items():
                path = exports_dir / f"tax_{fmt}{suffix}.csv"
                write_atomically(path, table.to_csv())
                written[fmt] = path
        except (CliError, TaxExportError) as err:
            raise dg.Failure(description=f"exports/tax_csv: {err}") from err
        generic = tables["generic"]
        context.log.info(generic.note())
        preview = [dict(zip(generic.columns, row, strict=True)) for row in generic.rows]
        metadata: dict[str, dg.RawMetadataValue] = {
            "fills": len(generic.rows),
            "year": config.year if config.year is not None else "all",
            "note": generic.note(),
            "realized_gain": generic.realized_gain() or "none",
            **{f"path_{fmt}": dg.MetadataValue.path(str(p)) for fmt, p in written.items()},
            "preview": dg.MetadataValue.md(_markdown(preview[-PREVIEW_ROWS:])),
        }
        return dg.MaterializeResult(metadata=metadata)

    return tax_csv


def _markdown(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "_no fills_"
    shown = ["date_utc", "symbol", "side", "quantity", "price", "fee", "fee_currency"]
    shown += ["proceeds", "cost_basis", "realized_gain"]
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(row[c] for c in shown) + " |" for row in rows]
    return "\n".join(lines)
