"""raw/ohlcv: closed candles per exchange/symbol/timeframe, partitioned daily x symbol.

One run covers up to 20 partitions (a backfill of a year is split into bounded chunks, so no
step holds the warehouse pool for long: live evaluations never wait more than one chunk).
Incremental for the day in progress: when the partition's recorded checks passed (but the
gap checks), it is fetched from its last stored candle, minus ``refetch_candles`` that
exchanges may still correct, only that slice is validated, against the state its stored head
leaves (last candle, rows, largest return, open times), and only the slice is written; its
outcomes are exactly the whole partition's (``trading_core.market.ohlcv_resume``). Otherwise,
or when the slice fails a check, the day is fetched and validated whole, as a past day always
is (re-materializing it picks up corrections).

Everything is fetched and validated first; then the run's partitions are replaced in ONE
warehouse transaction, so a failure commits nothing and a re-run gives identical rows.
Bad rows never reach raw.ohlcv silently: they go to raw.ohlcv_quarantine with their reason
(a malformed source line alone, with its line number), and every check reports one result
with failing counts and examples. A bar the spike policy (``trading_core.quality.
spike_policy``) holds goes there too (reason ``spike_held``), so it never reaches stg_ohlcv,
until later bars confirm it or an operator releases it (``trading data release``: a row of
the release ledger this asset reads; the CLI never writes the warehouse).
Missing candles are reported with their position (WARN); the gap policy
(``trading_core.quality.gap_policy``) says which gaps block. A failed blocking check keeps
that partition out of the signals (stg_ohlcv filters on raw.partition_checks) and out of
``latest_bars``; the run's other partitions are materialized as usual, and only a run whose
partitions are all blocked fails (``assets.ingest.checks``).

The planning and validation are ``trading_core.market.ingest_plan``, the writing
``trading_core.market.ingest_write``; this asset wires them to Dagster.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.ingest.bar_close import wait_for_bar_close
from assets.ingest.checks import (
    blocked_partitions,
    check_results,
    check_specs,
    write_partition_checks,
)
from trading_core.config import trading_home
from trading_core.market.ingest_plan import (
    PartitionBatch,
    fetch_partition,
    in_progress,
    settle_partitions,
)
from trading_core.market.ingest_write import read_stored, write_partitions
from trading_core.market.ohlcv_resume import foreign_series, read_resumable, resume_partitions
from trading_core.quality import OHLCV_CHECKS
from trading_core.quality.releases import ledger_path, read_releases
from trading_core.warehouse import ensure_schema, transaction
from trading_pipelines.partitions import day_window, split_key
from trading_pipelines.resources.market import MarketDataResource

OHLCV_KEY = dg.AssetKey(["raw", "ohlcv"])


def build_ohlcv_asset(
    partitions_def: dg.PartitionsDefinition, freshness: dg.FreshnessPolicy | None = None
) -> dg.AssetsDefinition:
    @dg.asset(
        key=OHLCV_KEY,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.multi_run(20),  # a step under ~10 s: README
        freshness_policy=freshness,
        pool="duckdb_warehouse",
        group_name="ingest",
        kinds={"duckdb", "python"},
        check_specs=check_specs(OHLCV_KEY, OHLCV_CHECKS),
        description=(
            "Closed OHLCV candles for every configured exchange and timeframe, one partition "
            "per day and symbol. Source: sim | replay | ccxt (TRADING_MARKET_SOURCE)."
        ),
    )
    def ohlcv(
        context: dg.AssetExecutionContext,
        market: MarketDataResource,
        warehouse: DuckDBResource,
    ) -> dg.MaterializeResult:
        wait_for_bar_close(context, market)
        cfg = market.market_config()
        source = market.client()
        now = market.now()
        releases = [r.key for r in read_releases(ledger_path(trading_home()))]
        batches: list[PartitionBatch] = []
        with warehouse.get_connection() as conn:
            ensure_schema(conn)
            resumable = read_resumable(conn, context.partition_keys)
            for key in context.partition_keys:
                day, symbol = split_key(key)
                start, end = day_window(day)
                stored = None  # fetched whole: a past day, or a day in progress not resumable
                if in_progress(end, now) and key in resumable:
                    stored = read_stored(conn, symbol, start, end)
                    if foreign_series(stored, cfg):
                        stored = None
                        resumable.discard(key)
                window = (start, end)
                batches.append(
                    fetch_partition(
                        source,
                        cfg,
                        key,
                        symbol,
                        window,
                        now,
                        stored,
                        released=releases,
                        validate=False,
                    )
                )
            # the day in progress from its stored head on, when exact; a slice that is not
            # makes its day fetched whole again; the rest with one quarantine split, spike
            # hold and GE suite for the whole run
            resumed, rest = resume_partitions(batches, cfg, resumable)
            whole = [
                fetch_partition(
                    source,
                    cfg,
                    b.key,
                    b.symbol,
                    (b.start, b.end),
                    now,
                    released=releases,
                    validate=False,
                )
                if b.kept_heads
                else b
                for b in rest
            ]
            settled = settle_partitions(whole, source, cfg, released=releases)
            done = {batch.key: batch for batch in [*resumed, *settled]}
            batches = [done[batch.key] for batch in batches]
            outcomes = {batch.key: batch.outcomes for batch in batches}
            with transaction(conn):
                written = write_partitions(conn, batches)
                write_partition_checks(conn, OHLCV_KEY, outcomes, now)
        blocked = blocked_partitions(outcomes)
        for batch in batches:
            if batch.blocked:
                failed = [f"{o.name}: {o.detail}" for o in batch.outcomes if not o.passed]
                context.log.warning(f"{batch.key} blocked: {'; '.join(failed)}")
        return dg.MaterializeResult(
            metadata={
                "partitions": len(outcomes),
                # clean rows the partitions hold; rows_written: of which this run wrote
                "rows": written.rows + sum(batch.head_rows for batch in batches),
                "rows_written": written.rows,
                "resumed_partitions": len(resumed),
                "candles_fetched": sum(batch.fetched for batch in batches),
                "quarantined_rows": written.quarantined_rows,
                "rejected_lines": sum(batch.rejected_lines for batch in batches),
                "held_bars": dg.MetadataValue.json(
                    [d.as_dict() for batch in batches for d in batch.spikes if d.held]
                ),
                "source": source.name,
                "latest_bars": dg.MetadataValue.json(written.latest_bars()),
                "gaps": dg.MetadataValue.json({batch.key: batch.gaps for batch in batches}),
                "blocked_partitions": dg.MetadataValue.json(blocked),
                "closed_candles_until": now.isoformat(),
            },
            check_results=check_results(OHLCV_KEY, outcomes),
        )

    return ohlcv
