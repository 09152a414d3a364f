"""Monte Carlo robustness of a trade list: how much of a result is the order of its trades?

``shuffle`` replays the same trades in random orders: the compounded final equity of an
all-in strategy does not depend on order, so this isolates path risk (the drawdown
distribution). ``bootstrap`` draws trades with replacement: final equity varies too, which
estimates how much the result owes to a few lucky trades. Both are seeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

PERCENTILES: tuple[float, ...] = (5.0, 25.0, 50.0, 75.0, 95.0)


@dataclass(frozen=True)
class MonteCarloResult:
    method: str
    runs: pd.DataFrame  # one row per run: final_equity, total_return, max_drawdown
    summary: pd.DataFrame  # percentiles of each column
    observed: dict[str, float]  # the same numbers for the trades in their real order
    probability_of_loss: float


def _paths(returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Final equity (from 1) and max drawdown of each row of per-trade returns."""
    growth = np.cumprod(1.0 + returns, axis=1)
    with_start = np.concatenate([np.ones((growth.shape[0], 1)), growth], axis=1)
    drawdown = with_start / np.maximum.accumulate(with_start, axis=1) - 1.0
    return growth[:, -1], drawdown.min(axis=1)


def monte_carlo(
    trade_returns: np.ndarray | pd.Series,
    runs: int = 1000,
    seed: int = 0,
    method: Literal["shuffle", "bootstrap"] = "bootstrap",
) -> MonteCarloResult:
    """Resample per-trade returns (``BacktestResult.trades['return']``) ``runs`` times."""
    returns = np.asarray(trade_returns, dtype=float)
    if returns.size == 0:
        raise ValueError("Monte Carlo needs at least one closed trade")
    if method not in ("shuffle", "bootstrap"):
        raise ValueError(f"method {method!r} is not allowed; allowed: ('shuffle', 'bootstrap')")
    rng = np.random.default_rng(seed)
    if method == "shuffle":
        samples = rng.permuted(np.tile(returns, (runs, 1)), axis=1)
    else:
        samples = returns[rng.integers(0, returns.size, size=(runs, returns.size))]
    final, worst = _paths(samples)
    table = pd.DataFrame(
        {"final_equity": final, "total_return": final - 1.0, "max_drawdown": worst}
    )
    observed_final, observed_worst = _paths(returns[None, :])
    summary = pd.DataFrame(
        {f"p{p:g}": np.percentile(table.to_numpy(), p, axis=0) for p in PERCENTILES},
        index=table.columns,
    )
    return MonteCarloResult(
        method=method,
        runs=table,
        summary=summary,
        observed={
            "final_equity": float(observed_final[0]),
            "total_return": float(observed_final[0] - 1.0),
            "max_drawdown": float(observed_worst[0]),
        },
        probability_of_loss=float((final < 1.0).mean()),
    )
