"""raw/order_book_snapshots: top-N book levels per snapshot, partitioned daily x symbol.

Offline backends (sim, replay) can snapshot any past instant, so a day's partition holds the
whole snapshot grid up to now and re-materializing it gives identical rows. ccxt can only
snapshot the present: each run adds the current snapshot to today's partition and replaces
nothing else. The day in progress on an offline backend resumes after its last stored
snapshot (only the new grid moments are fetched and replaced) when its stored rows passed
every check; the outcomes are still those of the whole partition, and a new slice that fails
a check makes the run snapshot and validate the partition whole
(``trading_core.market.book_plan``). A run's partitions share one validation suite.
Structurally bad levels go to raw.order_book_quarantine with their reason; a level entry
of a recorded snapshot file that is not ``[price, amount]`` is quarantined alone (reason
``malformed_level`` with its side and position) while the other levels are stored.
"""

from datetime import datetime, timedelta

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.ingest.bar_close import wait_for_bar_close
from assets.ingest.checks import check_results, check_specs, write_partition_checks
from trading_core.config import MarketConfig
from trading_core.market.base import ORDER_BOOK_COLUMNS, MarketSource
from trading_core.market.book_plan import (
    passing_outcomes,
    read_stored_book,
    resume_after,
    validate_books,
    with_head,
)
from trading_core.market.ingest_plan import in_progress
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
        heads: dict[str, int] = {}  # resumed partitions: level rows of their stored head
        with warehouse.get_connection() as conn:
            ensure_schema(conn)
            for key in context.partition_keys:
                day, symbol = split_key(key)
                start, end = day_window(day)
                after = None
                if live_only:
                    if not start <= now < end:
                        context.log.warning(f"{key}: ccxt can only snapshot the present; skipped")
                        continue
                    moments: list = [None]
                else:
                    if in_progress(end, now):
                        stored = read_stored_book(conn, key, symbol, start, end)
                        after = resume_after(stored, list(cfg.exchanges))
                        if after is not None:
                            heads[key] = stored.rows
                    moments = order_book_times(start, end, SNAPSHOT_EVERY, now=now)
                    if after is not None:
                        moments = [m for m in moments if m > after]
                levels, unread = _snapshot(source, cfg, symbol, moments, after)
                levels["ingested_at"] = now
                params: list[object]
                if live_only:
                    where = "symbol = ? and snapshot_ts in (select unnest(?::timestamp[]))"
                    params = [symbol, sorted(levels["snapshot_ts"].unique().tolist())]
                elif after is not None:  # only the slice after the stored head
                    where = "symbol = ? and snapshot_ts > ? and snapshot_ts < ?"
                    params = [symbol, after, end]
                else:
                    where = "symbol = ? and snapshot_ts >= ? and snapshot_ts < ?"
                    params = [symbol, start, end]
                # the same slice of snapshots is replaced in the table and in its quarantine
                batches[key] = (levels, where, params)
                malformed[key] = _malformed(unread, now)
        resumed_empty = {key for key in heads if not len(batches[key][0])}
        outcomes = validate_books(
            {key: b[0] for key, b in batches.items() if key not in resumed_empty}
        )
        for key, head_rows in heads.items():
            levels = batches[key][0]
            whole = (
                passing_outcomes(head_rows)
                if key in resumed_empty
                else with_head(outcomes[key], head_rows, len(levels))
            )
            if whole is not None:
                outcomes[key] = whole
                continue
            # the new slice failed a check: fetch and validate the partition whole
            day, symbol = split_key(key)
            start, end = day_window(day)
            moments = order_book_times(start, end, SNAPSHOT_EVERY, now=now)
            levels, unread = _snapshot(source, cfg, symbol, moments, None)
            levels["ingested_at"] = now
            where = "symbol = ? and snapshot_ts >= ? and snapshot_ts < ?"
            batches[key] = (levels, where, [symbol, start, end])
            malformed[key] = _malformed(unread, now)
            outcomes[key] = validate_order_book(levels)
        outcomes = {key: outcomes[key] for key in batches}
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
                "resumed_partitions": len(heads),
                "level_rows": written,
                "quarantined_rows": quarantined,
                "snapshot_grid": "now (ccxt)" if live_only else str(SNAPSHOT_EVERY),
                "snapshots_until": now.isoformat(),
            },
            check_results=check_results(BOOKS_KEY, outcomes),
        )

    return order_book_snapshots


def _snapshot(
    source: MarketSource,
    cfg: MarketConfig,
    symbol: str,
    moments: list,
    after: datetime | None,
) -> tuple[pd.DataFrame, list[dict]]:
    """The level rows of every exchange's book at each moment (books snapshotted at or
    before ``after``, e.g. a recorded snapshot older than its moment, are already stored),
    and the malformed level entries of the recorded snapshots among them."""
    frames = []
    rejected_levels = getattr(source, "rejected_levels", None)
    unread: list[dict] = []
    for exchange in cfg.exchanges:
        for moment in moments:
            book = source.fetch_order_book(exchange, symbol, cfg.order_book_depth, moment)
            if after is not None and book.ts <= after:
                continue
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
    return levels, unread


def _malformed(unread: list[dict], now: datetime) -> pd.DataFrame:
    return pd.DataFrame(
        unread, columns=["exchange", "symbol", "snapshot_ts", "source", "side", "level",
                         "reason"],
    ).drop_duplicates(["exchange", "snapshot_ts", "side", "level"]).assign(
        price=float("nan"), amount=float("nan"), ingested_at=now
    )  # fmt: skip
