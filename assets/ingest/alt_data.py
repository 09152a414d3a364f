"""raw/reddit_posts, raw/x_posts, raw/news_items, raw/onchain_metrics.

Daily partitions by event time (published_at / ts), single-run backfills. A run replaces the
rows of its days in one transaction; every record a backend could not use goes to
raw.quarantine with its reason, and a check named for that reason flags it (WARN: the stored
rows are clean, the bad ones are kept aside):
- ``lines_parsed``: a line that is not JSON or has the wrong number of CSV fields (alone,
  with its line number; the file's other lines are stored), a feed entry with neither title
  nor description, a file that cannot be read at all;
- ``no_conflicting_duplicates``: records sharing an id with different content (every version);
- ``event_times_in_partitions``: an event time before the first partition or after now + 5 min;
- ``values_in_domain``: a negative on-chain value of a metric that cannot be negative;
- ``text_within_limit``: a text field over MAX_TEXT_CHARS characters;
- ``no_quarantined_records``: any reject at all (also bad fields, missing dates).
Blocking checks on the stored rows: ids unique, event times present and not in the future.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from trading_core.quality.alt_records import REASON_CHECKS, Horizon
from trading_core.social.results import FetchResult
from trading_core.timeframes import naive_utc, utc_now
from trading_core.warehouse import ensure_schema, replace_rows, transaction
from trading_pipelines.partitions import ALT_DATA_FRESHNESS

# Event times may run a little ahead of our clock (publisher clocks); beyond this, reject.
CLOCK_SKEW = timedelta(minutes=5)


REASON_CHECK_NAMES = tuple(dict.fromkeys(REASON_CHECKS.values()))
REASON_CODES = {
    name: [code for code, check in REASON_CHECKS.items() if check == name]
    for name in REASON_CHECK_NAMES
}


@dataclass(frozen=True)
class AltSource:
    key: dg.AssetKey
    table: str
    id_columns: tuple[str, ...]
    time_column: str
    resource_key: str
    description: str
    fetch: Callable[[Any, datetime, datetime, Horizon], FetchResult]


SOURCES = [
    AltSource(
        dg.AssetKey(["raw", "reddit_posts"]),
        "raw.reddit_posts",
        ("post_id",),
        "published_at",
        "social",
        "Reddit posts (praw, or replay of JSON lines) scored with VADER.",
        lambda r, start, end, horizon: r.reddit().fetch_posts(start, end, horizon=horizon),
    ),
    AltSource(
        dg.AssetKey(["raw", "x_posts"]),
        "raw.x_posts",
        ("post_id",),
        "published_at",
        "social",
        "Posts on X (tweepy recent search, or replay of JSON lines) scored with VADER.",
        lambda r, start, end, horizon: r.x().fetch_posts(start, end, horizon=horizon),
    ),
    AltSource(
        dg.AssetKey(["raw", "news_items"]),
        "raw.news_items",
        ("item_id",),
        "published_at",
        "news",
        "News items from RSS/Atom feeds (URLs or files) read by feedparser.",
        lambda r, start, end, horizon: r.client().fetch_items(start, end, horizon=horizon),
    ),
    AltSource(
        dg.AssetKey(["raw", "onchain_metrics"]),
        "raw.onchain_metrics",
        ("asset", "metric", "ts"),
        "ts",
        "onchain",
        "On-chain metrics (HTTP JSON API, or replay of CSV files), long form.",
        lambda r, start, end, horizon: r.client().fetch_metrics(start, end, horizon=horizon),
    ),
]


def quality_results(
    source: AltSource, frame: pd.DataFrame, rejects: pd.DataFrame, now: datetime
) -> list[dg.AssetCheckResult]:
    duplicated = frame[frame.duplicated(list(source.id_columns), keep=False)]
    times = pd.to_datetime(frame[source.time_column])
    bad_times = frame[times.isna() | (times > now + CLOCK_SKEW)]

    def examples(rows: pd.DataFrame) -> dg.MetadataValue:
        return dg.MetadataValue.json(json.loads(rows.head(5).to_json(orient="records")))

    codes = rejects["reason"].str.split(":").str[0] if len(rejects) else pd.Series(dtype=str)
    reason_checks = []
    for check_name in REASON_CHECK_NAMES:
        hits = rejects[codes.map(REASON_CHECKS).eq(check_name)] if len(rejects) else rejects
        reason_checks.append(
            dg.AssetCheckResult(
                asset_key=source.key,
                check_name=check_name,
                passed=hits.empty,
                severity=dg.AssetCheckSeverity.WARN,
                description=(
                    f"records quarantined as {' / '.join(REASON_CODES[check_name])}: "
                    f"{len(hits)} (kept in raw.quarantine with their reason)"
                ),
                metadata={"failing_count": len(hits), "examples": examples(hits)},
            )
        )
    return [
        *reason_checks,
        dg.AssetCheckResult(
            asset_key=source.key,
            check_name="unique_ids",
            passed=duplicated.empty,
            metadata={"failing_count": len(duplicated), "examples": examples(duplicated)},
        ),
        dg.AssetCheckResult(
            asset_key=source.key,
            check_name="event_times_valid",
            passed=bad_times.empty,
            description=f"{source.time_column} present and not after now + {CLOCK_SKEW}",
            metadata={"failing_count": len(bad_times), "examples": examples(bad_times)},
        ),
        dg.AssetCheckResult(
            asset_key=source.key,
            check_name="no_quarantined_records",
            passed=rejects.empty,
            severity=dg.AssetCheckSeverity.WARN,
            description="records the backend could not use are kept in raw.quarantine",
            metadata={
                "quarantined": len(rejects),
                "reasons": dg.MetadataValue.json(
                    rejects["reason"].str.split(":").str[0].value_counts().to_dict()
                    if len(rejects)
                    else {}
                ),
            },
        ),
    ]


def horizon_for(partitions: dg.PartitionsDefinition, now: datetime) -> Horizon:
    """The event times some partition of ``partitions`` can hold: from the first partition's
    start to now + CLOCK_SKEW (later than that is in the future, not in a partition yet)."""
    if not isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        raise TypeError(f"alt-data assets need daily partitions, got {type(partitions).__name__}")
    return Horizon.from_now(naive_utc(partitions.start), now, CLOCK_SKEW)


def _window(keys: list[str]) -> tuple[datetime, datetime]:
    days = sorted(date.fromisoformat(k) for k in keys)
    start = datetime.combine(days[0], datetime.min.time())
    return start, datetime.combine(days[-1], datetime.min.time()) + timedelta(days=1)


def build_alt_asset(source: AltSource, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=source.key,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        freshness_policy=ALT_DATA_FRESHNESS,
        pool="duckdb_warehouse",
        group_name="ingest",
        kinds={"duckdb", "python"},
        required_resource_keys={"warehouse", source.resource_key},
        description=source.description,
        check_specs=[
            dg.AssetCheckSpec("unique_ids", asset=source.key, blocking=True),
            dg.AssetCheckSpec("event_times_valid", asset=source.key, blocking=True),
            dg.AssetCheckSpec("no_quarantined_records", asset=source.key),
            *(dg.AssetCheckSpec(name, asset=source.key) for name in REASON_CHECK_NAMES),
        ],
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse: DuckDBResource = context.resources.warehouse
        backend = getattr(context.resources, source.resource_key)
        start, end = _window(context.partition_keys)
        span = context.partition_keys[0]
        if len(context.partition_keys) > 1:
            span = f"{context.partition_keys[0]}..{context.partition_keys[-1]}"
        now = utc_now()
        result = source.fetch(backend, start, end, horizon_for(partitions, now))
        result = result.for_partition(span)
        with warehouse.get_connection() as conn:
            ensure_schema(conn)
            with transaction(conn):
                rows = replace_rows(
                    conn,
                    source.table,
                    result.frame,
                    f"{source.time_column} >= ? and {source.time_column} < ?",
                    [start, end],
                )
                quarantined = replace_rows(
                    conn,
                    "raw.quarantine",
                    result.rejects,
                    "asset_key = ? and partition_key = ?",
                    [source.key.to_user_string(), span],
                )
        return dg.MaterializeResult(
            metadata={
                "rows": rows,
                "quarantined": quarantined,
                "window": f"[{start.isoformat()}, {end.isoformat()})",
                "notes": dg.MetadataValue.json(list(result.notes)),
            },
            check_results=quality_results(source, result.frame, result.rejects, now),
        )

    return _asset


def build_alt_data_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [build_alt_asset(source, partitions) for source in SOURCES]
