"""Gaps in a candle series: report them, and bridge them or split the series at them.

A gap is a step between consecutive bars longer than the series' median spacing
(``sweep_report.find_gaps`` counts them). ``bridge`` keeps every bar - indicators and
backtests run straight across the missing candles, as they always did; ``split`` cuts the
series at every gap and keeps the longest gap-free segment (the most recent one on a tie),
so nothing is computed across missing candles. Either way the report says what was done.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from trading_core.backtest.sweep_report import find_gaps

GAP_MODES: tuple[str, ...] = ("bridge", "split")


def gap_positions(ts: pd.Series) -> np.ndarray:
    """Indices ``i`` where a gap lies between bar ``i - 1`` and bar ``i``."""
    stamps = ts.to_numpy().astype("datetime64[ns]").astype(np.int64)
    if stamps.size < 2:
        return np.zeros(0, dtype=np.int64)
    steps = np.diff(stamps)
    spacing = float(np.median(steps))
    missing = np.rint(steps / spacing).astype(np.int64) - 1
    return np.flatnonzero(missing > 0) + 1


def gap_report(ts: pd.Series) -> dict[str, Any]:
    """``{"gaps", "missing_candles", "largest_gap_candles"}`` of a series."""
    gaps = find_gaps(ts)
    return {
        "gaps": gaps.number,
        "missing_candles": gaps.missing,
        "largest_gap_candles": gaps.largest,
    }


def apply_gap_mode(bars: pd.DataFrame, mode: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The bars to use under ``mode`` and a report: the input's gaps, the mode, and for
    ``split`` the segment kept (first and last bar, bars) and how many segments there were."""
    if mode not in GAP_MODES:
        raise ValueError(f"--gaps {mode!r} is not allowed; allowed: {GAP_MODES}")
    report: dict[str, Any] = {**gap_report(bars["ts"]), "gap_mode": mode}
    if mode == "bridge" or report["gaps"] == 0:
        return bars, report
    cuts = np.concatenate([[0], gap_positions(bars["ts"]), [len(bars)]])
    lengths = np.diff(cuts)
    # the longest segment; on a tie the latest (argmax on the reversed lengths)
    k = len(lengths) - 1 - int(np.argmax(lengths[::-1]))
    kept = bars.iloc[int(cuts[k]) : int(cuts[k + 1])].reset_index(drop=True)
    report.update(
        segments=len(lengths),
        segment_start=pd.Timestamp(kept["ts"].iloc[0]).isoformat(),
        segment_end=pd.Timestamp(kept["ts"].iloc[-1]).isoformat(),
        segment_bars=len(kept),
    )
    return kept, report


def gap_warning(report: dict[str, Any]) -> str | None:
    """A one-line warning for stderr, or None without gaps."""
    if not report["gaps"]:
        return None
    head = (
        f"warning: the input has {report['gaps']} gaps ({report['missing_candles']} missing "
        f"candles, the largest {report['largest_gap_candles']})"
    )
    if report["gap_mode"] == "bridge":
        return head + "; indicators and fills bridge them (--gaps split to avoid that)"
    return (
        head + f"; split into {report['segments']} segments, kept the longest: "
        f"{report['segment_start']} -> {report['segment_end']} ({report['segment_bars']} bars)"
    )
