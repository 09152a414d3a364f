"""Moving-block bootstrap of a backtest's per-bar returns: drawdowns at bar level.

The trade-level Monte Carlo (``backtest.monte_carlo``) reorders or redraws closed trades, so
its drawdowns only see trade ends. Here each run rebuilds an equity path of the same length
from blocks of ``block`` consecutive per-bar returns of the real equity curve, the blocks'
starts drawn uniformly (with replacement) from every possible start (Künsch's moving-block
bootstrap; the path is cut to the original length). Blocks keep the short-range dependence
of the returns (volatility clusters, held positions); the drawdown of each run is the worst
bar-level ``equity / running peak - 1``. Seeded; runs are drawn in chunks so memory stays
bounded (about ``chunk`` x bars floats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trading_core.backtest.monte_carlo import PERCENTILES


@dataclass(frozen=True)
class BlockBootstrapResult:
    method: str
    block: int
    runs: pd.DataFrame  # final_equity (from 1), total_return, max_drawdown
    summary: pd.DataFrame  # percentiles of each column
    observed: dict[str, float]
    probability_of_loss: float


def default_block(bars: int) -> int:
    """The usual rule of thumb: the cube root of the sample length, at least 2."""
    return max(2, math.ceil(bars ** (1.0 / 3.0)))


def _path_stats(returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    growth = np.cumprod(1.0 + returns, axis=1)
    peak = np.maximum(np.maximum.accumulate(growth, axis=1), 1.0)
    worst = np.minimum((growth / peak - 1.0).min(axis=1), 0.0)
    return growth[:, -1], worst


def block_bootstrap(
    bar_returns: np.ndarray | pd.Series,
    runs: int = 1000,
    block: int | None = None,
    seed: int = 0,
    chunk: int = 64,
) -> BlockBootstrapResult:
    """``runs`` moving-block bootstrap paths of ``bar_returns`` (see the module docstring)."""
    returns = np.asarray(bar_returns, dtype=float)
    if returns.ndim != 1 or returns.size < 2:
        raise ValueError(f"bar returns must be one series of >= 2 bars, got shape {returns.shape}")
    if not np.isfinite(returns).all() or (returns <= -1.0).any():
        raise ValueError("bar returns must be finite and > -1 (an equity curve's returns)")
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs must be an integer >= 1, got {runs!r}")
    size = returns.size
    length = default_block(size) if block is None else block
    if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= size:
        raise ValueError(f"block must be an integer between 1 and {size} bars, got {length!r}")
    rng = np.random.default_rng(seed)
    per_path = math.ceil(size / length)
    offsets = np.arange(length)
    finals: list[np.ndarray] = []
    worsts: list[np.ndarray] = []
    for first in range(0, runs, chunk):
        count = min(chunk, runs - first)
        starts = rng.integers(0, size - length + 1, size=(count, per_path))
        index = (starts[:, :, None] + offsets).reshape(count, -1)[:, :size]
        final, worst = _path_stats(returns[index])
        finals.append(final)
        worsts.append(worst)
    final = np.concatenate(finals)
    table = pd.DataFrame(
        {"final_equity": final, "total_return": final - 1.0, "max_drawdown": np.concatenate(worsts)}
    )
    observed_final, observed_worst = _path_stats(returns[None, :])
    summary = pd.DataFrame(
        {f"p{p:g}": np.percentile(table.to_numpy(), p, axis=0) for p in PERCENTILES},
        index=table.columns,
    )
    return BlockBootstrapResult(
        method="block",
        block=length,
        runs=table,
        summary=summary,
        observed={
            "final_equity": float(observed_final[0]),
            "total_return": float(observed_final[0] - 1.0),
            "max_drawdown": float(observed_worst[0]),
        },
        probability_of_loss=float((final < 1.0).mean()),
    )
