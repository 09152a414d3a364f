"""The result of one quality check, shaped for a Dagster asset check (one check per outcome)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

Severity = Literal["error", "warn"]
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class CheckSpec:
    """A check known before it runs: Dagster declares its asset checks from these."""

    name: str
    severity: Severity  # 'error' blocks downstream for the partition; 'warn' flags it
    description: str
    max_listed: int = MAX_EXAMPLES  # findings a result lists (the gap checks list every gap)


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    severity: Severity
    failing_count: int  # failing rows (for the gap checks: missing candles)
    # At most ``max_listed`` failing rows, JSON-friendly (for the gap checks: the gaps).
    examples: list[dict[str, Any]]
    requirement: str  # what the check demands (its spec's description)
    detail: str  # what this validation found, with the numbers of failing_count/observed
    observed: float | None = None  # the measured value when there is one (gap share, ...)
    max_listed: int = MAX_EXAMPLES

    @property
    def description(self) -> str:
        return f"{self.requirement} — {self.detail}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "description": self.description}


def blocks(outcomes: Iterable[CheckOutcome]) -> bool:
    """A blocking (error) check failed: the partition stays out of the signals."""
    return any(not o.passed and o.severity == "error" for o in outcomes)


@dataclass
class OutcomeBuilder:
    """Collects the outcomes of one validation in the order of its specs."""

    specs: Sequence[CheckSpec]
    outcomes: dict[str, CheckOutcome] = field(default_factory=dict)

    def add(
        self,
        name: str,
        passed: bool,
        failing_count: int,
        examples: list[dict[str, Any]],
        detail: str,
        observed: float | None = None,
    ) -> None:
        spec = next(s for s in self.specs if s.name == name)
        self.outcomes[name] = CheckOutcome(
            name=name,
            passed=passed,
            severity=spec.severity,
            failing_count=failing_count,
            examples=examples[: spec.max_listed],
            requirement=spec.description,
            detail=detail,
            observed=observed,
            max_listed=spec.max_listed,
        )

    def not_evaluated(self, reason: str) -> None:
        """Every check without an outcome yet fails: it could not run (e.g. missing columns)."""
        for spec in self.specs:
            if spec.name not in self.outcomes:
                self.add(spec.name, False, 0, [], f"not evaluated: {reason}")

    def result(self) -> list[CheckOutcome]:
        return [self.outcomes[spec.name] for spec in self.specs]


def json_value(value: Any) -> Any:
    """A JSON-friendly scalar for asset metadata (timestamps as ISO strings, NaN as None)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime | np.datetime64):
        stamp = pd.Timestamp(value)
        return None if pd.isna(stamp) else stamp.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def example_rows(
    frame: pd.DataFrame, positions: Iterable[int], columns: Sequence[str]
) -> list[dict[str, Any]]:
    """Up to MAX_EXAMPLES rows (by position) as JSON-friendly dicts, with their row number."""
    rows = []
    for position in list(positions)[:MAX_EXAMPLES]:
        record = frame.iloc[position]
        row: dict[str, Any] = {"row": int(position)}
        row.update({col: json_value(record[col]) for col in columns if col in frame.columns})
        rows.append(row)
    return rows
