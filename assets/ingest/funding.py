"""raw/funding_rates and raw/open_interest: the perpetual markets of the configured symbols
(``BTC/USDT`` -> ``BTC/USDT:USDT``), partitioned daily x symbol like raw/ohlcv.

Sources: sim (seeded), replay (``{exchange}_{BASEQUOTEPERP}_funding_8h.csv`` and
``..._open_interest_1h.csv`` in the replay directory; none: an empty day) and ccxt
(``fetch_funding_rate_history``, ``fetch_open_interest_history``; see
``trading_core.market.funding``). A day is fetched whole up to the market clock and the run's
partitions are replaced in one transaction. Rejected rows go to raw.quarantine (``asset_key``,
``partition_key``, ``reason``, the row as JSON); the checks (``trading_core.quality.funding``)
report one result per run and record every partition's outcomes in raw.partition_checks.
"""

import json
from collections.abc import Callable, Mapping
from datetime import datetime

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.ingest.checks import check_results, check_specs, write_partition_checks
from assets.ingest.trades import reason_counts
from trading_core.market.base import MarketDataError
from trading_core.quality.funding import (
    FUNDING_CHECKS,
    FUNDING_COLUMNS,
    OPEN_INTEREST_CHECKS,
    OPEN_INTEREST_COLUMNS,
    assess_funding,
    assess_open_interest,
)
from trading_core.quality.outcome import json_value
from trading_core.quality.records import Assessment
from trading_core.warehouse import ensure_schema, replace_rows, transaction
from trading_pipelines.partitions import day_window, split_key
from trading_pipelines.resources.market import MarketDataResource

FUNDING_KEY = dg.AssetKey(["raw", "funding_rates"])
OPEN_INTEREST_KEY = dg.AssetKey(["raw", "open_interest"])

Assess = Callable[[pd.DataFrame, tuple[datetime, datetime], datetime | None], Assessment]


def quarantine_rows(
    asset_key: str, key: str, bad: pd.DataFrame, columns: list[str], now: datetime
) -> pd.DataFrame:
    """Rows of raw.quarantine: the rejected record as JSON with its reason."""
    payloads = [
        json.dumps({c: json_value(row[c]) for c in [*columns, "source"]}, sort_keys=True)
        for _, row in bad.iterrows()
    ]
    return pd.DataFrame(
        {
            "asset_key": asset_key,
            "partition_key": key,
            "reason": bad["reason"].tolist() if len(bad) else [],
            "payload": payloads,
            "ingested_at": now,
        },
        columns=["asset_key", "partition_key", "reason", "payload", "ingested_at"],
    )


def _build(
    key: dg.AssetKey,
    table: str,
    columns: list[str],
    checks: Mapping[str, str],
    method: str,
    assess: Assess,
    partitions_def: dg.PartitionsDefinition,
    description: str,
) -> dg.AssetsDefinition:
    asset_key = key.to_user_string()

    @dg.asset(
        key=key,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.multi_run(20),
        pool="duckdb_warehouse",
        group_name="ingest",
        kinds={"duckdb", "python"},
        check_specs=check_specs(key, checks),
        description=description,
    )
    def perpetual_data(
        context: dg.AssetExecutionContext,
        market: MarketDataResource,
        warehouse: DuckDBResource,
    ) -> dg.MaterializeResult:
        cfg = market.market_config()
        source = market.client()
        now = market.now()
        fetch = getattr(source, method, None)
        if fetch is None:
            raise MarketDataError(f"market source {source.name!r} has no {method}")
        batches: dict[str, tuple[Assessment, str, tuple]] = {}
        for partition in context.partition_keys:
            day, symbol = split_key(partition)
            window = day_window(day)
            frames = [fetch(exchange, symbol, *window, now) for exchange in cfg.exchanges]
            frames = [f for f in frames if len(f)]
            rows = (
                pd.concat(frames, ignore_index=True)
                if frames
                else pd.DataFrame(columns=columns).astype({"ts": "datetime64[us]"})
            )
            rows["source"] = source.name
            batches[partition] = (assess(rows, window, now), symbol, window)
        outcomes = {p: batch[0].outcomes for p, batch in batches.items()}
        written = quarantined = 0
        with warehouse.get_connection() as conn:
            ensure_schema(conn)
            with transaction(conn):
                for partition, (assessment, symbol, (start, end)) in batches.items():
                    clean = assessment.clean.sort_values(["exchange", "ts"], kind="stable")
                    written += replace_rows(
                        conn,
                        table,
                        clean.assign(ingested_at=now),
                        "symbol = ? and ts >= ? and ts < ?",
                        [symbol, start, end],
                    )
                    quarantined += replace_rows(
                        conn,
                        "raw.quarantine",
                        quarantine_rows(asset_key, partition, assessment.quarantined, columns, now),
                        "asset_key = ? and partition_key = ?",
                        [asset_key, partition],
                    )
                write_partition_checks(conn, key, outcomes, now)
        return dg.MaterializeResult(
            metadata={
                "partitions": len(batches),
                "rows": written,
                "quarantined_rows": quarantined,
                "quarantine_reasons": dg.MetadataValue.json(
                    reason_counts([batch[0] for batch in batches.values()])
                ),
                "source": source.name,
                "until": now.isoformat(),
            },
            check_results=check_results(key, outcomes),
        )

    return perpetual_data


def build_funding_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """raw/funding_rates and raw/open_interest."""
    return [
        _build(
            FUNDING_KEY,
            "raw.funding_rates",
            FUNDING_COLUMNS,
            FUNDING_CHECKS,
            "fetch_funding_rates",
            assess_funding,
            partitions_def,
            "Funding rates of the configured symbols' perpetuals (every 8 h on Binance); "
            "rejected rows go to raw.quarantine.",
        ),
        _build(
            OPEN_INTEREST_KEY,
            "raw.open_interest",
            OPEN_INTEREST_COLUMNS,
            OPEN_INTEREST_CHECKS,
            "fetch_open_interest",
            assess_open_interest,
            partitions_def,
            "Hourly open interest (base units and quote value) of the configured symbols' "
            "perpetuals; rejected rows go to raw.quarantine.",
        ),
    ]
