"""The wording of the candle checks' outcomes: one place, whatever judged the rows.

``ohlcv_outcomes`` turns what a validation found (the suite's results per row check, the gap
policy's report, the source's rejected lines and the spike hold's decisions) into one
``CheckOutcome`` per check of ``OHLCV_CHECK_SPECS``, each detail stating the numbers of its
outcome. A whole-partition validation (``trading_core.quality.ohlcv``) and a resumed day in
progress (``trading_core.market.ohlcv_resume``) both call it, so the same partition gets the
same words and numbers either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from trading_core.market.base import OHLCV_COLUMNS
from trading_core.quality.frames import TIMESTAMP_TYPES
from trading_core.quality.gap_policy import GapPolicy, GapReport
from trading_core.quality.gx import ExpectationResult
from trading_core.quality.ohlcv_specs import (
    GAP_CHECKS,
    OHLCV_CHECK_SPECS,
    PRICE_COLUMNS,
    SOURCE_CHECKS,
)
from trading_core.quality.outcome import (
    MAX_EXAMPLES,
    CheckOutcome,
    OutcomeBuilder,
    example_rows,
    json_value,
)
from trading_core.quality.spike_policy import SpikeDecision


def dtype_problems(data: pd.DataFrame) -> list[str]:
    """Column types that are wrong as a whole (GE says no; this says what they are)."""
    problems = []
    if not any(str(data["ts"].dtype) == t for t in TIMESTAMP_TYPES):
        problems.append(f"ts is {data['ts'].dtype}, expected naive datetime64")
    problems.extend(
        f"{c} is {data[c].dtype}, expected float64"
        for c in [*PRICE_COLUMNS, "volume"]
        if data[c].dtype != "float64"
    )
    return problems


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _gap_outcomes(builder: OutcomeBuilder, report: GapReport, policy: GapPolicy) -> None:
    """``ohlcv_gap_limit`` and ``ohlcv_missing_candles`` from the gap policy's report; each
    detail states the numbers of its outcome's failing count."""
    shown = [
        f"{gap.series} from {gap.start.isoformat()} ("
        + ("at least " if gap.open_ended else "")
        + _plural(gap.missing, "candle")
        + (f", {gap.in_window} in this window)" if gap.in_window != gap.missing else ")")
        for gap in report.gaps[:MAX_EXAMPLES]
    ]
    more = len(report.gaps) - len(shown)
    listed = "; ".join(shown) + (f"; and {more} more" if more else "")
    missing = f"{report.missing} of {report.expected} expected candles missing"
    if report.blocks:
        reasons = [str(breach) for breach in report.breaches]
        detail = f"blocked, {missing}: " + "; ".join(reasons[:MAX_EXAMPLES])
        detail += f"; and {len(reasons) - MAX_EXAMPLES} more" if len(reasons) > MAX_EXAMPLES else ""
    else:
        detail = (
            f"not blocked, longest gap {report.longest} candles (max_gap_candles "
            f"{policy.max_gap_candles}), at most {report.worst_day_share:.3f} of a day's candles "
            f"missing (max_gap_ratio {policy.max_gap_ratio:g})"
        )
    builder.add(
        "ohlcv_gap_limit",
        not report.blocks,
        report.missing if report.blocks else 0,
        [breach.as_dict() for breach in report.breaches],
        detail,
        report.worst_day_share,
    )
    within = "over the gap limits: see ohlcv_gap_limit" if report.blocks else "within the limits"
    builder.add(
        "ohlcv_missing_candles",
        report.missing == 0,
        report.missing,
        [gap.as_dict() for gap in report.gaps],
        f"{missing} in {_plural(len(report.gaps), 'gap')} ({within}): {listed}"
        if report.gaps
        else missing,
        report.missing / report.expected if report.expected else 0.0,
    )


def ohlcv_outcomes(
    rows_checked: int,
    shown: pd.DataFrame,
    dtype_problems: list[str],
    results: list[ExpectationResult],
    largest_return: float | None,
    max_abs_log_return: float,
    policy: GapPolicy,
    gaps: GapReport,
    rejected: pd.DataFrame | None,
    spikes: Sequence[SpikeDecision],
) -> list[CheckOutcome]:
    """One outcome per check of ``OHLCV_CHECK_SPECS``, in that order. ``rows_checked``: the
    rows of the partition frame the suite judged; ``shown``: that frame with its helper
    columns (failing rows are listed from it; unused when nothing fails); ``results``: the
    suite's results (none: every row check passed); ``largest_return``: the largest
    |log return| of the partition (``ohlcv_outlier_returns`` states it)."""
    builder = OutcomeBuilder(OHLCV_CHECK_SPECS)
    by_check: dict[str, list[ExpectationResult]] = {}
    for result in results:
        by_check.setdefault(result.check, []).append(result)

    for spec in OHLCV_CHECK_SPECS:
        if spec.name in GAP_CHECKS or spec.name in SOURCE_CHECKS:
            continue
        outcomes = by_check.get(spec.name, [])
        rows = sorted({row for r in outcomes for row in r.failing_rows})
        errors = [f"{r.expectation}: {r.error}" for r in outcomes if r.error]
        passed = all(r.success for r in outcomes)
        detail = f"{len(rows)} of {rows_checked} rows fail"
        if spec.name == "ohlcv_schema" and dtype_problems:
            rows = list(range(rows_checked))
            detail = "; ".join(dtype_problems)
        extra: list[str] = []
        observed = None
        if spec.name == "ohlcv_outlier_returns":
            extra = ["abs_log_return"]
            observed = largest_return
            detail += f" (bound {max_abs_log_return}, largest {observed})"
        elif spec.name == "ohlcv_aligned_ts":
            extra = ["seconds_off_grid"]
        if errors:
            detail += "; GE raised: " + "; ".join(errors)
        builder.add(
            spec.name,
            passed,
            len(rows),
            example_rows(shown, rows, [*OHLCV_COLUMNS, *extra]),
            detail,
            observed,
        )
    _gap_outcomes(builder, gaps, policy)
    _source_outcomes(builder, rejected, spikes)
    return builder.result()


def _source_outcomes(
    builder: OutcomeBuilder, rejected: pd.DataFrame | None, spikes: Sequence[SpikeDecision]
) -> None:
    lines = rejected if rejected is not None else pd.DataFrame(columns=["line", "reason"])
    examples = [
        {
            "file": json_value(row.get("file")),
            "line": json_value(row.get("line")),
            "reason": json_value(row.get("line_reason", row.get("reason"))),
            "text": json_value(row.get("text")),
        }
        for row in lines.head(MAX_EXAMPLES).to_dict("records")
    ]
    where = ", ".join(f"line {e['line']} ({str(e['reason']).split(' ', 1)[0]})" for e in examples)
    builder.add(
        "ohlcv_readable_lines",
        lines.empty,
        len(lines),
        examples,
        f"{len(lines)} source line(s) quarantined" + (f": {where}" if where else ""),
    )
    held = [d for d in spikes if d.held]
    released = [d for d in spikes if not d.held]
    shown = "; ".join(f"{d.series} {d.ts.isoformat()} {d.status}" for d in held[:MAX_EXAMPLES])
    builder.add(
        "ohlcv_spike_hold",
        not held,
        len(held),
        [d.as_dict() for d in held],
        f"{len(held)} bar(s) held, {len(released)} released" + (f": {shown}" if shown else ""),
        float(max((abs(d.move) for d in spikes), default=0.0)),
    )
