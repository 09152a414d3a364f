"""raw/trades: the public trades tape per exchange and symbol, partitioned daily x symbol
like raw/ohlcv.

Every backend has a tape: sim (seeded, consistent with its 1m candles), replay (recorded
``{exchange}_{BASEQUOTE}_trades_{date}.csv`` files; none: an empty day) and ccxt (paginated
public trades, Binance's aggTrades). A day is fetched whole up to the market clock, so the
day in progress grows with each run and re-materializing a past day gives identical rows.

Everything is fetched and checked first; then the run's partitions are replaced in ONE
warehouse transaction. Bad trades never reach raw.trades silently: they go to
raw.trades_quarantine with their reason (``trading_core.quality.trades``), and every check
reports one result per run (``assets.ingest.checks``): a partition whose blocking check
failed is recorded in raw.partition_checks, and int_trade_flow leaves it out.
"""

from collections import Counter

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.ingest.checks import check_results, check_specs, write_partition_checks
from trading_core.market.base import TRADE_COLUMNS, MarketDataError
from trading_core.quality.records import Assessment
from trading_core.quality.trades import TRADE_CHECKS, assess_trades
from trading_core.warehouse import ensure_schema, replace_rows, transaction
from trading_pipelines.partitions import day_window, split_key
from trading_pipelines.resources.market import MarketDataResource

TRADES_KEY = dg.AssetKey(["raw", "trades"])


def reason_counts(assessments: list[Assessment]) -> dict[str, int]:
    """Quarantined rows per reason over a run (a row with two reasons counts for both)."""
    counts: Counter[str] = Counter()
    for assessment in assessments:
        for reasons in assessment.quarantined.get("reason", pd.Series(dtype=object)):
            counts.update(reasons.split(";"))
    return dict(sorted(counts.items()))


def build_trades_asset(
    partitions_def: dg.PartitionsDefinition, freshness: dg.FreshnessPolicy | None = None
) -> dg.AssetsDefinition:
    @dg.asset(
        key=TRADES_KEY,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.multi_run(5),  # a day of a busy tape is big
        freshness_policy=freshness,
        pool="duckdb_warehouse",
        group_name="ingest",
        kinds={"duckdb", "python"},
        check_specs=check_specs(TRADES_KEY, TRADE_CHECKS),
        description=(
            "Public trades (taker side, price, amount) for every configured exchange, one "
            "partition per day and symbol; bad trades go to raw.trades_quarantine."
        ),
    )
    def trades(
        context: dg.AssetExecutionContext,
        market: MarketDataResource,
        warehouse: DuckDBResource,
    ) -> dg.MaterializeResult:
        cfg = market.market_config()
        source = market.client()
        now = market.now()
        fetch = getattr(source, "fetch_trades", None)
        if fetch is None:
            raise MarketDataError(f"market source {source.name!r} has no trades tape")
        batches: dict[str, tuple[Assessment, str, tuple]] = {}
        for key in context.partition_keys:
            day, symbol = split_key(key)
            window = day_window(day)
            frames = [fetch(exchange, symbol, *window, now) for exchange in cfg.exchanges]
            frames = [f for f in frames if len(f)]
            tape = (
                pd.concat(frames, ignore_index=True)
                if frames
                else pd.DataFrame(columns=TRADE_COLUMNS).astype({"ts": "datetime64[us]"})
            )
            tape = tape.astype({"price": "float64", "amount": "float64"}, errors="ignore")
            tape["source"] = source.name
            batches[key] = (assess_trades(tape, window, now), symbol, window)
        outcomes = {key: batch[0].outcomes for key, batch in batches.items()}
        written = quarantined = 0
        with warehouse.get_connection() as conn:
            ensure_schema(conn)
            with transaction(conn):
                for key, (assessment, symbol, (start, end)) in batches.items():
                    clean = assessment.clean.sort_values(
                        ["exchange", "ts", "trade_id"], kind="stable"
                    ).assign(ingested_at=now)
                    written += replace_rows(
                        conn,
                        "raw.trades",
                        clean,
                        "symbol = ? and ts >= ? and ts < ?",
                        [symbol, start, end],
                    )
                    quarantined += replace_rows(
                        conn,
                        "raw.trades_quarantine",
                        assessment.quarantined.assign(partition_key=key, ingested_at=now),
                        "partition_key = ?",
                        [key],
                    )
                write_partition_checks(conn, TRADES_KEY, outcomes, now)
        return dg.MaterializeResult(
            metadata={
                "partitions": len(batches),
                "trades": written,
                "quarantined_rows": quarantined,
                "quarantine_reasons": dg.MetadataValue.json(
                    reason_counts([batch[0] for batch in batches.values()])
                ),
                "source": source.name,
                "trades_until": now.isoformat(),
            },
            check_results=check_results(TRADES_KEY, outcomes),
        )

    return trades
