"""Great Expectations outcomes as Dagster asset checks and as per-partition rows.

Every raw market asset reports one check result per expectation (failing partitions, counts
and examples as metadata) and records each partition's outcomes in raw.partition_checks:
stg_ohlcv keeps a partition whose blocking (ERROR) check failed out of the signals.

One run may hold many partitions (a backfill, or the live run of every symbol) but Dagster
takes one result per check per step, and a failed ERROR result of a blocking check fails the
step. So a blocked partition never fails the clean partitions of its run: while some
partition of the run is clean, a failed blocking check is reported at WARN severity, naming
the blocked partitions (they stay out of the signals through raw.partition_checks); only a
run whose partitions are all blocked reports ERROR and fails, blocking its downstream assets.
Every description is made from the same numbers as its metadata.
"""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import dagster as dg
import pandas as pd

from trading_core.quality import CheckOutcome, blocks
from trading_core.warehouse import replace_rows

LISTED_PARTITIONS = 50  # partitions named in a result's metadata (counts cover them all)
DESCRIBED_PARTITIONS = 3  # partitions whose findings the description spells out


def check_specs(asset_key: dg.AssetKey, checks: Mapping[str, str]) -> list[dg.AssetCheckSpec]:
    """One check per expectation; ERROR checks block downstream assets."""
    return [
        dg.AssetCheckSpec(name, asset=asset_key, blocking=severity == "error")
        for name, severity in checks.items()
    ]


def blocked_partitions(outcomes_by_partition: dict[str, list[CheckOutcome]]) -> list[str]:
    """Partitions with a failed blocking (error) check: kept out of the signals."""
    return [partition for partition, outcomes in outcomes_by_partition.items() if blocks(outcomes)]


def _describe(
    first: CheckOutcome,
    checked: int,
    failing: list[tuple[str, CheckOutcome]],
    failing_count: int,
    reported_as_warn: bool,
) -> str:
    if not failing:
        found = f": {first.detail}" if checked == 1 else ""
        return f"{first.requirement} — passed in {checked} of {checked} partitions{found}"
    shown = "; ".join(f"{key}: {o.detail}" for key, o in failing[:DESCRIBED_PARTITIONS])
    more = len(failing) - DESCRIBED_PARTITIONS
    text = (
        f"{first.requirement} — failed in {len(failing)} of {checked} partitions, "
        f"failing count {failing_count}. {shown}" + (f"; and {more} more" if more > 0 else "")
    )
    if reported_as_warn:
        text += (
            f". Blocked: {len(failing)} partition(s) kept out of the signals "
            "(raw.partition_checks); reported as WARN because the run's other partitions are "
            "clean and materialized"
        )
    return text


def check_results(
    asset_key: dg.AssetKey,
    outcomes_by_partition: dict[str, list[CheckOutcome]],
) -> list[dg.AssetCheckResult]:
    """Fold per-partition outcomes into one result per check, naming the failing partitions."""
    blocked = blocked_partitions(outcomes_by_partition)
    all_blocked = len(blocked) == len(outcomes_by_partition)
    by_check: dict[str, list[tuple[str, CheckOutcome]]] = {}
    for partition, outcomes in outcomes_by_partition.items():
        for o in outcomes:
            by_check.setdefault(o.name, []).append((partition, o))
    results = []
    for name, entries in by_check.items():
        first = entries[0][1]
        failing = [(partition, o) for partition, o in entries if not o.passed]
        failing_count = sum(int(o.failing_count) for _, o in failing)
        error = first.severity == "error"
        reported_as_warn = error and bool(failing) and not all_blocked
        examples = [
            {"partition": partition, **example}
            for partition, o in failing
            for example in o.examples
        ][: first.max_listed]
        metadata: dict[str, Any] = {
            "failing_count": failing_count,
            "failing_partitions": dg.MetadataValue.json(
                [partition for partition, _ in failing][:LISTED_PARTITIONS]
            ),
            "partitions_checked": len(entries),
            "partition_details": dg.MetadataValue.json(
                {partition: o.detail for partition, o in failing[:LISTED_PARTITIONS]}
            ),
            "examples": dg.MetadataValue.json(json.loads(json.dumps(examples, default=str))),
        }
        if error:
            metadata["blocked_partitions"] = dg.MetadataValue.json(
                [partition for partition, _ in failing][:LISTED_PARTITIONS]
            )
        results.append(
            dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=name,
                passed=not failing,
                severity=(
                    dg.AssetCheckSeverity.ERROR
                    if error and not reported_as_warn
                    else dg.AssetCheckSeverity.WARN
                ),
                description=_describe(
                    first, len(entries), failing, failing_count, reported_as_warn
                ),
                metadata=metadata,
            )
        )
    return results


def partition_check_rows(
    asset_key: str, outcomes_by_partition: dict[str, list[CheckOutcome]], checked_at: datetime
) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "asset_key": asset_key,
                "partition_key": partition,
                "check_name": o.name,
                "passed": bool(o.passed),
                "severity": o.severity.upper(),
                "failing_count": int(o.failing_count),
                "checked_at": checked_at,
            }
            for partition, outcomes in outcomes_by_partition.items()
            for o in outcomes
        ]
    )


def write_partition_checks(
    conn,
    asset_key: dg.AssetKey,
    outcomes_by_partition: dict[str, list[CheckOutcome]],
    checked_at: datetime,
) -> None:
    """Replace the recorded outcomes of these partitions (inside the caller's transaction)."""
    if not outcomes_by_partition:
        return
    key = asset_key.to_user_string()
    replace_rows(
        conn,
        "raw.partition_checks",
        partition_check_rows(key, outcomes_by_partition, checked_at),
        f"asset_key = ? and partition_key in ({', '.join('?' * len(outcomes_by_partition))})",
        [key, *outcomes_by_partition],
    )
