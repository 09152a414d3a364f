"""Folding per-partition outcomes into one Dagster check result per check (candles and order
books share it): a blocked partition never fails its clean neighbours, and descriptions state
the metadata's numbers."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.ingest.checks import blocked_partitions, check_results
from trading_core.quality import CheckOutcome

KEY = dg.AssetKey(["raw", "order_book_snapshots"])


def outcome(name: str, severity: str, failing: int, detail: str) -> CheckOutcome:
    return CheckOutcome(
        name=name,
        passed=failing == 0,
        severity=severity,  # type: ignore[arg-type]
        failing_count=failing,
        examples=[{"row": i} for i in range(min(failing, 5))],
        requirement=f"{name} holds",
        detail=detail,
    )


def partition(crossed: int, stale: int = 0) -> list[CheckOutcome]:
    return [
        outcome("not_crossed", "error", crossed, f"{crossed} of 40 rows fail"),
        outcome("fresh", "warn", stale, f"{stale} of 40 rows fail"),
    ]


def folded(outcomes: dict[str, list[CheckOutcome]]) -> dict[str, dg.AssetCheckResult]:
    return {r.check_name: r for r in check_results(KEY, outcomes)}


def test_a_blocked_partition_among_clean_ones_is_a_warning_that_names_it() -> None:
    runs = {
        "d1|BTC-USDT": partition(0),
        "d2|BTC-USDT": partition(3, 2),
        "d3|BTC-USDT": partition(0),
    }
    assert blocked_partitions(runs) == ["d2|BTC-USDT"]
    result = folded(runs)["not_crossed"]
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    meta = {k: getattr(v, "value", v) for k, v in result.metadata.items()}
    assert meta["failing_count"] == 3 and meta["partitions_checked"] == 3
    assert meta["failing_partitions"] == meta["blocked_partitions"] == ["d2|BTC-USDT"]
    assert meta["partition_details"] == {"d2|BTC-USDT": "3 of 40 rows fail"}
    assert [e["partition"] for e in meta["examples"]] == ["d2|BTC-USDT"] * 3
    assert result.description == (
        "not_crossed holds — failed in 1 of 3 partitions, failing count 3. "
        "d2|BTC-USDT: 3 of 40 rows fail. Blocked: 1 partition(s) kept out of the signals "
        "(raw.partition_checks); reported as WARN because the run's other partitions are clean "
        "and materialized"
    )
    warn = folded(runs)["fresh"]
    assert warn.severity == dg.AssetCheckSeverity.WARN and "blocked_partitions" not in warn.metadata


@pytest.mark.parametrize("keys", [["d1|BTC-USDT"], ["d1|BTC-USDT", "d2|BTC-USDT"]])
def test_a_run_with_nothing_clean_fails_at_error(keys: list[str]) -> None:
    result = folded({key: partition(2) for key in keys})["not_crossed"]
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert f"failed in {len(keys)} of {len(keys)} partitions, failing count {2 * len(keys)}" in (
        result.description or ""
    )


def test_blocked_by_different_checks_is_still_blocked_everywhere() -> None:
    both = {
        "d1|BTC-USDT": [outcome("a", "error", 1, "1 of 9"), outcome("b", "error", 0, "0 of 9")],
        "d2|BTC-USDT": [outcome("a", "error", 0, "0 of 9"), outcome("b", "error", 4, "4 of 9")],
    }
    results = folded(both)
    assert {r.severity for r in results.values()} == {dg.AssetCheckSeverity.ERROR}


def test_the_description_of_the_first_partition_is_never_the_runs() -> None:
    """The bug of issue 10: a clean first partition lent its "0 missing" to the result."""
    runs = {"d1|BTC-USDT": partition(0), "d2|BTC-USDT": partition(0, 1)}
    result = folded(runs)["fresh"]
    assert "failing count 1" in (result.description or "")
    assert "d2|BTC-USDT: 1 of 40 rows fail" in (result.description or "")
    assert "0 of 40" not in (result.description or "")
    clean = folded(runs)["not_crossed"]
    assert clean.passed and clean.description == "not_crossed holds — passed in 2 of 2 partitions"
    many = {f"d{i}|BTC-USDT": partition(i % 2) for i in range(8)}
    text = folded(many)["not_crossed"].description or ""
    assert "failed in 4 of 8 partitions, failing count 4" in text and "; and 1 more" in text
