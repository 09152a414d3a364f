"""Great Expectations outcomes as Dagster asset checks and as per-partition rows.

Every raw market asset reports one check result per expectation (failing partitions, counts
and examples as metadata) and records each partition's outcomes in raw.partition_checks:
stg_ohlcv keeps a partition whose blocking (ERROR) check failed out of the signals.
"""

import json
from datetime import datetime

import dagster as dg
import pandas as pd

from trading_core.warehouse import replace_rows


def check_specs(asset_key: dg.AssetKey, checks: dict[str, str]) -> list[dg.AssetCheckSpec]:
    """One check per expectation; ERROR checks block downstream assets."""
    return [
        dg.AssetCheckSpec(name, asset=asset_key, blocking=severity == "error")
        for name, severity in checks.items()
    ]


def check_results(
    asset_key: dg.AssetKey,
    outcomes_by_partition: dict[str, list],
) -> list[dg.AssetCheckResult]:
    """Fold per-partition outcomes into one result per check, naming the failing partitions."""
    merged: dict[str, dict] = {}
    for partition, outcomes in outcomes_by_partition.items():
        for o in outcomes:
            entry = merged.setdefault(
                o.name,
                {
                    "severity": o.severity,
                    "failing": 0,
                    "partitions": [],
                    "examples": [],
                    "description": o.description,
                },
            )
            if not o.passed:
                entry["failing"] += int(o.failing_count)
                entry["partitions"].append(partition)
                entry["examples"].extend(o.examples[: max(0, 5 - len(entry["examples"]))])
    results = []
    for name, entry in merged.items():
        passed = not entry["partitions"]
        results.append(
            dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=name,
                passed=passed,
                severity=(
                    dg.AssetCheckSeverity.ERROR
                    if entry["severity"] == "error"
                    else dg.AssetCheckSeverity.WARN
                ),
                description=entry["description"],
                metadata={
                    "failing_count": entry["failing"],
                    "failing_partitions": dg.MetadataValue.json(entry["partitions"][:50]),
                    "partitions_checked": len(outcomes_by_partition),
                    "examples": dg.MetadataValue.json(
                        json.loads(json.dumps(entry["examples"], default=str))
                    ),
                },
            )
        )
    return results


def partition_check_rows(
    asset_key: str, outcomes_by_partition: dict[str, list], checked_at: datetime
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
    conn, asset_key: dg.AssetKey, outcomes_by_partition: dict[str, list], checked_at: datetime
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
