"""``signals/history``: the history behind the live edge, folded into the signal chain after
the bar's intents, in the evaluation run itself.

A backfill of earlier days (or an old correction) makes the signal chain recompute each
touched market from the changed bar to its end: for a market of 90 days of 1m bars that is
about 130,000 rows through every model, 20 s or more, while it cannot move the values at the
live edge (trading_core/incremental_history.py). So the evaluation's dbt pass defers all of
it (``TRADING_SIGNAL_HISTORY=defer``, assets/dbt_models.py), the strategy evaluates the bar,
and only then this step runs the chain again with the configured budget
(``operations.signal_history_rows_per_run``: markets taken while their rows fit, at least
one), leaving the rest deferred for the next run. With nothing deferred it does not start
dbt, and while a backfill is in progress it waits: each backfill run would give it more to
fold, and its 20-30 s per market would hold the run (and the evaluation lane) past the next
bar while the backfill's runs compete for the same two cores. Once the backfill is done it
folds one budget per bar. A bar's intent never waits for history.
"""

import json
import shutil
import time

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from assets.strategy import INTENTS_KEY
from trading_core.incremental import MARKS_TABLE, has_table
from trading_core.incremental_history import DEFERRED
from trading_pipelines.dbt import EVALUATION_TAG, TradingDbtResource, dbt_vars

SIGNAL_HISTORY_KEY = dg.AssetKey(["signals", "history"])


def deferred_series(conn: duckdb.DuckDBPyConnection) -> int:
    """How many series have history waiting (0 before the chain was ever built)."""
    if not has_table(conn, MARKS_TABLE):
        return 0
    row = conn.execute(
        "select count(*) from (select distinct exchange, symbol, timeframe "
        f"from {MARKS_TABLE} where consumer = ?)",
        [DEFERRED],
    ).fetchone()
    return int(row[0]) if row else 0


def backfills_in_progress(instance: dg.DagsterInstance) -> list[str]:
    """The ids of the backfills still launching or running their runs (or stopping them)."""
    from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus

    active = [BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING, BulkActionStatus.FAILING]
    found = instance.get_backfills(filters=BulkActionsFilter(statuses=active))
    return [b.backfill_id for b in found]


@dg.asset(
    key=SIGNAL_HISTORY_KEY,
    deps=[INTENTS_KEY],
    group_name="signals",
    kinds={"dbt", "duckdb"},
    pool="duckdb_warehouse",
    description=(
        "History behind the live edge (a backfill, an old correction) folded into the signal "
        "chain after the bar's intents: the tag:evaluation models run again with the "
        "history budget (operations.signal_history_rows_per_run). Metadata: deferred series "
        "before and after, seconds. Skips dbt when nothing is deferred, and waits while a "
        "backfill is in progress (metadata `backfill`)."
    ),
)
def signal_history(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource, dbt: TradingDbtResource
) -> dg.MaterializeResult:
    with warehouse.get_connection() as conn:
        before = deferred_series(conn)
    if not before:
        return dg.MaterializeResult(metadata={"deferred_before": 0, "deferred_after": 0})
    busy = backfills_in_progress(context.instance)
    if busy:
        context.log.info(f"{before} series deferred; not folded while backfill {busy[0]} runs")
        return dg.MaterializeResult(
            metadata={"deferred_before": before, "deferred_after": before, "backfill": busy[0]}
        )
    started = time.monotonic()
    invocation = dbt.cli(
        ["run", "--vars", json.dumps(dbt_vars()), "--select", f"tag:{EVALUATION_TAG}"]
    )
    invocation.wait()
    shutil.rmtree(invocation.target_path, ignore_errors=True)
    with warehouse.get_connection() as conn:
        after = deferred_series(conn)
    seconds = round(time.monotonic() - started, 2)
    context.log.info(f"history folded: {before} series deferred before, {after} after, {seconds} s")
    return dg.MaterializeResult(
        metadata={"deferred_before": before, "deferred_after": after, "seconds": seconds}
    )
