"""raw/order_book_snapshots: top-N book levels per snapshot, partitioned daily x symbol.

Offline backends (sim, replay) can snapshot any past instant, so a day's partition holds the
whole snapshot grid up to now and re-materializing it gives identical rows. ccxt can only
snapshot the present: each run adds the current snapshot to today's partition and replaces
nothing else. Structurally bad levels go to raw.order_book_quarantine with their reason; a
level entry of a recorded snapshot file that is not ``[price, amount]`` is quarantined alone
(reason ``malformed_level`` with its side and position) while the other levels are stored.
"""

from datetime import timedelta

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.ingest.bar_close import wait_for_bar_close
from assets.ingest.checks import check_results, check_specs, write_partition_checks
from trading_core.market.base import ORDER_BOOK_COLUMNS
from trading_core.market.replay import SYNTHETIC_SOURCE
from trading_core.market.sim import order_book_times
from trading_core.quality import ORDER_BOOK_CHECKS, quarantine_order_book, validate_order_book
from trading_core.warehouse import ensure_schema, replace_rows, transaction
from trading_pipelines.partitions import day_window, split_key
from trading_pipelines.resources.market import MarketDataResource

BOOKS_KEY = dg.AssetKey(["raw", "order_book_snapshots"])
SNAPSHOT_EVERY = timedelta(minutes=5)


def build_order_book_asset(
    partitions_def: dg.PartitionsDefinition, freshness: dg.FreshnessPolicy | None = None
) -> dg.AssetsDefinition:
    @dg.asset(
        key=BOOKS_KEY,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.multi_run(10),  # a step under ~10 s: README
        freshness_policy=freshness,
        pool="duckdb_warehouse",
        group_name="ingest",
        kinds={"duckdb", "python"},
        check_specs=check_specs(BOOKS_KEY, ORDER_BOOK_CHECKS),
        description=(
            "Top-N order book levels, every 5 minutes on offline backends (sim, replay) and "
            "the current book on each run with ccxt. Replay books are synthetic around the "
            "candle close unless a real snapshot file matches (see the `source` column)."
        ),
    )
    def order_book_snapshots(
        context: dg.AssetExecutionContext,
        market: MarketDataResource,
        warehouse: DuckDBResource,
    ) -> dg.MaterializeResult:
        wait_for_bar_close(context, market)
        cfg = market.market_config()
        source = market.client()
        now = market.now()
        live_only = cfg.source == "ccxt"
        batches: dict[str, tuple[pd.DataFrame, str, list]] = {}
        # level entries of a recorded snapshot that are not [price, amount]: quarantined alone
        malformed: dict[str, pd.DataFrame] = {}
        for key in context.partition_keys:
            day, symbol = split_key(key)
            start, end = day_window(day)
            if live_only:
                if not start <= now < end:
                    context.log.warning(f"{key}: ccxt can only snapshot the present; skipped")
                    continue
                moments: list = [None]
            else:
                moments = order_book_times(start, end, SNAPSHOT_EVERY, now=now)
            frames = []
            rejected_levels = getattr(source, "rejected_levels", None)
            unread: list[dict] = []
            for exchange in cfg.exchanges:
                for moment in moments:
                    book = source.fetch_order_book(exchange, symbol, cfg.order_book_depth, moment)
                    frame = book.to_frame()
                    frame["source"] = book.source or source.name
                    frames.append(frame)
                    if rejected_levels is not None and book.source != SYNTHETIC_SOURCE:
                        unread += [
                            {"exchange": exchange, "symbol": symbol, "snapshot_ts": book.ts,
                             "source": book.source or source.name, **entry}
                            for entry in rejected_levels(exchange, symbol, book.ts)
                        ]  # fmt: skip
            levels = (
                pd.concat(frames, ignore_index=True)
                if frames
                else pd.DataFrame(columns=[*ORDER_BOOK_COLUMNS, "source"])
            )
            levels["ingested_at"] = now
            if live_only:
                where = "symbol = ? and snapshot_ts in (select unnest(?::timestamp[]))"
                params = [symbol, sorted(levels["snapshot_ts"].unique().tolist())]
            else:
                where = "symbol = ? and snapshot_ts >= ? and snapshot_ts < ?"
                params = [symbol, start, end]
            # the same slice of snapshots is replaced in the table and in its quarantine
            batches[key] = (levels, where, params)
            malformed[key] = pd.DataFrame(
                unread, columns=["exchange", "symbol", "snapshot_ts", "source", "side", "level",
                                 "reason"],
            ).drop_duplicates(["exchange", "snapshot_ts", "side", "level"]).assign(
                price=float("nan"), amount=float("nan"), ingested_at=now
            )  # fmt: skip
        outcomes = {key: validate_order_book(levels) for key, (levels, _, _) in batches.items()}
        written = quarantined = 0
        with warehouse.get_connection() as conn:
            ensure_schema(conn)
            with transaction(conn):
                for key, (levels, where, params) in batches.items():
                    clean, bad = quarantine_order_book(levels)
                    if len(malformed[key]):
                        bad = pd.concat([bad, malformed[key][bad.columns]], ignore_index=True)
                    written += replace_rows(conn, "raw.order_book_snapshots", clean, where, params)
                    quarantined += replace_rows(
                        conn,
                        "raw.order_book_quarantine",
                        bad.assign(partition_key=key),
                        where,
                        params,
                    )
                write_partition_checks(conn, BOOKS_KEY, outcomes, now)
        return dg.MaterializeResult(
            metadata={
                "partitions": len(batches),
                "level_rows": written,
                "quarantined_rows": quarantined,
                "snapshot_grid": "now (ccxt)" if live_only else str(SNAPSHOT_EVERY),
                "snapshots_until": now.isoformat(),
            },
            check_results=check_results(BOOKS_KEY, outcomes),
        )

    return order_book_snapshots
