"""The sweep table a user gets: metrics per parameter set plus the columns that say how.

``sweep_table`` runs ``sweep.sweep_strategy`` and appends, to every row, the window, the fill
conventions, the exit rules that row used, the warm-up, the input's gaps and the min-trades
guard (``CONVENTION_COLUMNS``), so a CSV read on its own states what it measured. The guard
flags a row (``too_few_trades``) when it closed fewer than ``min_trades`` trades; it never
drops one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.data import check_bars
from trading_core.backtest.sweep import EXIT_RULE_COLUMNS, BlockSweep, sweep_blocks
from trading_core.backtest.warmup import apply_warmup
from trading_core.strategies import get_strategy

CONVENTION_COLUMNS: tuple[str, ...] = (
    "window_start",
    "window_end",
    "window_bars",
    "fill",
    "stops_from",
    "fee",
    "maker_fee",
    "slippage_bps",
    *EXIT_RULE_COLUMNS,
    "warmup",
    "warmup_bars",
    "warmup_bars_needed",
    "warmup_complete",
    "gaps",
    "missing_candles",
    "largest_gap_candles",
    "min_trades",
    "too_few_trades",
)


class Gaps(NamedTuple):
    """Missing candles of a series on its median spacing."""

    number: int
    missing: int
    largest: int


def find_gaps(ts: pd.Series) -> Gaps:
    """Runs of missing candles between consecutive bars, on the median bar spacing.

    A step of ``k`` spacings (rounded) is one gap of ``k - 1`` missing candles."""
    stamps = ts.to_numpy().astype("datetime64[ns]").astype(np.int64)
    if stamps.size < 2:
        return Gaps(0, 0, 0)
    steps = np.diff(stamps)
    spacing = float(np.median(steps))
    missing = np.rint(steps / spacing).astype(np.int64) - 1
    missing = missing[missing > 0]
    return Gaps(int(missing.size), int(missing.sum()), int(missing.max(initial=0)))


def _check_min_trades(min_trades: int) -> int:
    if isinstance(min_trades, bool) or not isinstance(min_trades, int | np.integer):
        raise ValueError(f"min_trades must be an integer >= 0, got {min_trades!r}")
    if min_trades < 0:
        raise ValueError(f"min_trades must be >= 0, got {min_trades}")
    return int(min_trades)


def sweep_table(
    bars: pd.DataFrame,
    strategy: str,
    params: pd.DataFrame,
    config: BacktestConfig | None = None,
    *,
    start: int = 0,
    min_trades: int = 0,
    progress: Callable[[int], None] | None = None,
    parallel: bool | None = None,
) -> pd.DataFrame:
    """``sweep_strategy``'s rows plus ``CONVENTION_COLUMNS`` (see the module docstring).

    The warm-up (``config.warmup``) is the one the row needing the most gets, applied once
    to every row; the exit-rule columns hold the fractions each row used (empty = none)."""
    return sweep_run(
        bars, strategy, params, config, start=start, min_trades=min_trades,
        progress=progress, parallel=parallel,
    ).table  # fmt: skip


class SweepRun(NamedTuple):
    """``sweep_table``'s table, the kernel's per-block sums (``blocks``), and the frame and
    first window index the rows were computed on (warm-up applied)."""

    table: pd.DataFrame
    swept: BlockSweep
    bars: pd.DataFrame
    start: int


def sweep_run(
    bars: pd.DataFrame,
    strategy: str,
    params: pd.DataFrame,
    config: BacktestConfig | None = None,
    *,
    start: int = 0,
    min_trades: int = 0,
    progress: Callable[[int], None] | None = None,
    parallel: bool | None = None,
    blocks: int = 0,
) -> SweepRun:
    """``sweep_table`` keeping what the overfitting statistics need (``blocks`` > 0; none
    when the window has fewer than 2 bars per block)."""
    cfg = config or BacktestConfig()
    guard = _check_min_trades(min_trades)
    bars = check_bars(bars)
    if not 0 <= start < len(bars):
        raise ValueError(f"start must index one of the {len(bars)} bars, got {start}")
    rows = params.reset_index(drop=True)
    if rows.empty:
        raise ValueError("params has no rows: one row per parameter set is needed")
    strategy_columns = [c for c in rows.columns if c not in EXIT_RULE_COLUMNS]
    longest = max(
        (
            get_strategy(strategy, {k: v for k, v in r.items() if not pd.isna(v)})
            for r in rows[strategy_columns].drop_duplicates().to_dict(orient="records")
        ),
        key=lambda s: s.warmup_bars,
    )
    cut, first, warmup = apply_warmup(bars, start, longest, cfg.warmup)
    if len(cut) - first < 2 * blocks:
        blocks = 0  # too short a window for CSCV: no block sums (no PBO)
    swept = sweep_blocks(
        cut,
        strategy,
        rows,
        cfg.model_copy(update={"warmup": "all"}),
        progress=progress,
        start=first,
        parallel=parallel,
        blocks=blocks,
    )
    results = swept.table
    window = cut.iloc[first:]
    gaps = find_gaps(window["ts"])
    extra: dict[str, object] = {
        "window_start": pd.Timestamp(window["ts"].iloc[0]).isoformat(),
        "window_end": pd.Timestamp(window["ts"].iloc[-1]).isoformat(),
        "window_bars": len(window),
        "fill": cfg.fill,
        "stops_from": cfg.stops_from,
        "fee": cfg.fee,
        "maker_fee": cfg.maker,
        "slippage_bps": cfg.slippage_bps,
    }
    for column, field in EXIT_RULE_COLUMNS.items():
        default = getattr(cfg, field)
        given = pd.to_numeric(rows[column], errors="coerce") if column in rows.columns else None
        values = pd.Series(np.nan if default is None else default, index=rows.index)
        extra[column] = values if given is None else given.fillna(values)
    extra.update(
        warmup=warmup.mode,
        warmup_bars=warmup.bars,
        warmup_bars_needed=warmup.needed,
        warmup_complete=warmup.complete,
        gaps=gaps.number,
        missing_candles=gaps.missing,
        largest_gap_candles=gaps.largest,
        min_trades=guard,
        too_few_trades=results["closed_trades"] < guard,
    )
    out = results.drop(columns=[c for c in EXIT_RULE_COLUMNS if c in results.columns])
    table = out.assign(**extra)[[*out.columns, *CONVENTION_COLUMNS]]
    return SweepRun(table, swept, cut, first)
