"""Running Great Expectations 1.x suites on in-memory frames.

GE is imported lazily (the import costs seconds and hundreds of MB) and one ephemeral context is
kept per process: building it once keeps a validation of a daily partition well under a
second. Progress bars and analytics are off. Each expectation carries ``meta={"check": name}``
so its result finds its way back to the named check, whatever order GE reports in.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd

_lock = threading.Lock()


@dataclass(frozen=True)
class ExpectationResult:
    check: str
    expectation: str  # GE's snake_case expectation type
    success: bool
    failing_rows: list[int]  # row positions GE reports as unexpected
    observed: Any  # observed_value for aggregate expectations
    error: str | None  # GE raised while evaluating
    row_level: bool = False  # GE judged row by row (reported unexpected rows, maybe none)


def _import(module: str) -> Any:
    """Import a GE module with analytics off (GE reads the switch at import)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    return importlib.import_module(module)


@cache
def _batch_definition() -> Any:
    gx = _import("great_expectations")
    base = _import("great_expectations.data_context.types.base")
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = base.ProgressBarsConfig(
        globally=False, metric_calculations=False
    )
    source = context.data_sources.add_pandas("trading_quality")
    return source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole")


def expectations() -> Any:
    """The ``great_expectations.expectations`` module (imported on first use)."""
    return _import("great_expectations.expectations")


def run_suite(frame: pd.DataFrame, suite_name: str, items: list[Any]) -> list[ExpectationResult]:
    """Validate ``frame`` (a RangeIndex frame) against ``items`` in one GE suite run."""
    gx = _import("great_expectations")
    with _lock:  # the context and its batch definition are shared state
        definition = _batch_definition()  # first: a suite needs an active context
        suite = gx.ExpectationSuite(name=suite_name)
        for expectation in items:
            suite.add_expectation(expectation)
        batch = definition.get_batch(batch_parameters={"dataframe": frame})
        report = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    results = []
    for item in report.results:
        info = item.exception_info or {}
        raised = bool(info.get("raised_exception"))
        results.append(
            ExpectationResult(
                check=item.expectation_config.meta["check"],
                expectation=item.expectation_config.type,
                success=bool(item.success) and not raised,
                failing_rows=[int(i) for i in item.result.get("unexpected_index_list") or []],
                observed=item.result.get("observed_value"),
                error=info.get("exception_message") if raised else None,
                row_level="unexpected_index_list" in item.result,
            )
        )
    return results
