"""raw/ohlcv: closed candles per exchange/symbol/timeframe, partitioned daily x symbol.

One run may cover many partitions (a year of one symbol is one run: single-run backfill
policy). Incremental for the day in progress: it is fetched from its last stored candle,
minus ``refetch_candles`` that exchanges may still correct; the stored head and the fetched
tail are validated together as the whole partition, and the head's quarantined rows stay.
A past day is always fetched whole, so re-materializing it picks up corrections.

Everything is fetched and validated first; then the run's partitions are replaced in ONE
warehouse transaction, so a failure commits nothing and a re-run gives identical rows.
Bad rows never reach raw.ohlcv silently: they go to raw.ohlcv_quarantine with their reason,
and every Great Expectations check reports one result with failing counts and examples. A
failed blocking check keeps that partition out of the signals (stg_ohlcv filters on
raw.partition_checks) and blocks downstream assets of the run.
"""

from collections import defaultdict
from datetime import datetime

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.ingest.checks import check_results, check_specs, write_partition_checks
from trading_core.market.base import empty_ohlcv
from trading_core.market.ingest import fetch_window, find_gaps
from trading_core.quality import OHLCV_CHECKS, quarantine_ohlcv, validate_ohlcv
from trading_core.warehouse import ensure_schema, replace_rows, table_columns, transaction
from trading_pipelines.partitions import day_window, split_key
from trading_pipelines.resources.market import MarketDataResource

OHLCV_KEY = dg.AssetKey(["raw", "ohlcv"])


def stored_series(
    conn, series: tuple[str, str, str], start: datetime, end: datetime
) -> pd.DataFrame:
    """The candles of one series already stored in a partition window, oldest first."""
    return conn.execute(
        f"select {', '.join(table_columns('raw.ohlcv'))} from raw.ohlcv "
        "where exchange = ? and symbol = ? and timeframe = ? and ts >= ? and ts < ? order by ts",
        [*series, start, end],
    ).df()


def empty_raw() -> pd.DataFrame:
    return empty_ohlcv().assign(
        source=pd.Series(dtype=object), ingested_at=pd.Series(dtype="datetime64[us]")
    )


def build_ohlcv_asset(
    partitions_def: dg.PartitionsDefinition, freshness: dg.FreshnessPolicy | None = None
) -> dg.AssetsDefinition:
    @dg.asset(
        key=OHLCV_KEY,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
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
        cfg = market.market_config()
        source = market.client()
        now = market.now()
        frames: dict[str, pd.DataFrame] = {}
        # per partition: (exchange, timeframe, first re-fetched open time) of each series whose
        # stored head was kept; the head's quarantined rows are kept with it
        heads: dict[str, list[tuple[str, str, datetime]]] = defaultdict(list)
        outcomes: dict[str, list] = {}
        gaps: dict[str, list] = defaultdict(list)
        requested = 0
        with warehouse.get_connection() as conn:
            ensure_schema(conn)
            for key in context.partition_keys:
                day, symbol = split_key(key)
                start, end = day_window(day)
                parts = []
                for exchange in cfg.exchanges:
                    for timeframe in cfg.timeframes:
                        series = (exchange, symbol, timeframe)
                        # incremental only for the day in progress: re-materializing a past
                        # day re-fetches all of it (that is how a correction gets in)
                        in_progress = end > now
                        stored = (
                            stored_series(conn, series, start, end) if in_progress else empty_raw()
                        )
                        last = stored["ts"].max() if len(stored) else None
                        window = fetch_window(
                            source,
                            exchange,
                            symbol,
                            timeframe,
                            start,
                            end,
                            now,
                            last_stored=None if pd.isna(last) else last.to_pydatetime(),
                            refetch=cfg.refetch_candles,
                        )
                        requested += len(window.frame)
                        head = stored[stored["ts"] < window.fetch_start]
                        if len(head):
                            heads[key].append((exchange, timeframe, window.fetch_start))
                        parts += [head, window.frame.assign(source=source.name, ingested_at=now)]
                        gaps[key] += [
                            {"series": "|".join(series), **gap.as_dict()}
                            for gap in find_gaps(
                                pd.concat([head["ts"], window.frame["ts"]]),
                                timeframe,
                                start=start,
                                end=min(end, now),
                            )
                        ]
                received = pd.concat(
                    [p for p in parts if len(p)] or [empty_raw()], ignore_index=True
                )
                outcomes[key] = validate_ohlcv(
                    received,
                    None,
                    cfg.max_gap_ratio,
                    cfg.max_abs_log_return,
                    window=(start, end),
                    now=now,
                )
                frames[key] = received
            rows_written = quarantined_rows = 0
            latest: dict[str, str] = {}
            with transaction(conn):
                for key, received in frames.items():
                    day, symbol = split_key(key)
                    start, end = day_window(day)
                    clean, bad = quarantine_ohlcv(received)
                    clean = clean.sort_values(["exchange", "timeframe", "ts"], kind="mergesort")
                    rows_written += replace_rows(
                        conn,
                        "raw.ohlcv",
                        clean,
                        "symbol = ? and ts >= ? and ts < ?",
                        [symbol, start, end],
                    )
                    kept = " or ".join(
                        ["(exchange = ? and timeframe = ? and ts < ?)"] * len(heads[key])
                    )
                    quarantined_rows += replace_rows(
                        conn,
                        "raw.ohlcv_quarantine",
                        bad.assign(partition_key=key),
                        f"partition_key = ? and not ({kept})" if kept else "partition_key = ?",
                        [key, *(value for head in heads[key] for value in head)],
                    )
                    for (exchange, timeframe), series in clean.groupby(["exchange", "timeframe"]):
                        name = f"{exchange}|{symbol}|{timeframe}"
                        newest = series["ts"].max().to_pydatetime().isoformat()
                        latest[name] = max(latest.get(name, ""), newest)
                write_partition_checks(conn, OHLCV_KEY, outcomes, now)
        return dg.MaterializeResult(
            metadata={
                "partitions": len(frames),
                "rows": rows_written,
                "candles_fetched": requested,
                "quarantined_rows": quarantined_rows,
                "source": source.name,
                "latest_bars": dg.MetadataValue.json(latest),
                "gaps": dg.MetadataValue.json(dict(gaps)),
                "closed_candles_until": now.isoformat(),
            },
            check_results=check_results(OHLCV_KEY, outcomes),
        )

    return ohlcv
