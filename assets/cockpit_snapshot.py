"""cockpit/warehouse_snapshot: the read-only copy of the warehouse the cockpit's signal
pages read (``trading_pipelines.cockpit.snapshot``).

A short copy in the warehouse's writer pool (it opens the live file), refreshed at most every
``SNAPSHOT_CRON`` tick once ``fct_signals`` has changed since the last one: on 1m bars an eager
condition would add one more run per bar to the queue the evaluation runs wait in. The cockpit
never opens ``warehouse.duckdb`` itself.
"""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from trading_pipelines.cockpit.snapshot import write_snapshot

SNAPSHOT_KEY = dg.AssetKey(["cockpit", "warehouse_snapshot"])
SNAPSHOT_CRON = "*/5 * * * *"


def build_cockpit_snapshot_asset(target: Path) -> dg.AssetsDefinition:
    @dg.asset(
        key=SNAPSHOT_KEY,
        deps=[dg.AssetKey(["fct_signals"])],
        group_name="cockpit",
        kinds={"duckdb"},
        pool="duckdb_warehouse",
        automation_condition=dg.AutomationCondition.on_cron(SNAPSHOT_CRON),
        description=(
            "The recent bars of fct_signals (price, regime, score, action, reasons) copied "
            "every 5 minutes while fct_signals changes, to "
            "snapshots/cockpit.duckdb through a temporary file and a rename: the web "
            "cockpit's signal pages read this copy, never the live warehouse."
        ),
    )
    def warehouse_snapshot(warehouse: DuckDBResource) -> dg.MaterializeResult:
        with warehouse.get_connection() as conn:
            copied = write_snapshot(conn, target)
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(target)),
                "rows": copied["rows"],
                "markets": copied["markets"],
                "newest_bar": str(copied["newest_bar"]),
            }
        )

    return warehouse_snapshot
