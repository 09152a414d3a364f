"""The JSON contract of ``trading backtest --config FILE --data-dir DIR --json``.

``portfolio``: ``total_return``, ``max_drawdown`` (a negative fraction), ``sharpe``
(per-instant returns, annualised by the median spacing of the instants, no risk-free rate:
the single-strategy metrics' conventions) and ``trades`` (positions opened), plus
``final_equity``; ``instances``: the same per instance id, on the instance's own equity
(its allocation of the starting cash plus its P&L); ``events``: ``{ts, kind, instance,
detail}``; ``trades``: one row per position (``exits`` lists its fills out; ``exit_ts``,
``exit_price`` and ``exit_reason`` are null while open, ``pnl`` is then the unrealized P&L at
the last close before the exit fee). Non-finite numbers are null. Keys are sorted, so the same
run gives the same bytes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from trading_core.backtest.data import infer_bars_per_year
from trading_core.backtest.metrics import max_drawdown, per_bar_returns, sharpe_ratio
from trading_core.backtest.result import json_safe
from trading_core.portfolio_backtest.account import iso, moment_of
from trading_core.portfolio_backtest.engine import PortfolioRun


def _metrics(equity: np.ndarray, initial: float, per_year: float, trades: int) -> dict[str, Any]:
    returns = per_bar_returns(equity, initial)
    return {
        "total_return": float(equity[-1] / initial - 1.0) if initial > 0 else math.nan,
        "max_drawdown": max_drawdown(equity),
        "sharpe": sharpe_ratio(returns, per_year) if math.isfinite(per_year) else math.nan,
        "trades": trades,
        "final_equity": float(equity[-1]),
    }


def build_report(
    run: PortfolioRun, data: dict[str, dict[str, str]] | None = None
) -> dict[str, Any]:
    if run.times.size >= 2:
        per_year = infer_bars_per_year(pd.Series(run.times.astype("datetime64[ns]")))
    else:
        per_year = math.nan
    instances = {}
    for inst in run.instances:
        count = sum(1 for t in run.trades if t["instance"] == inst.id)
        metrics = _metrics(
            run.instance_equity[inst.id], inst.allocation * run.starting_cash, per_year, count
        )
        instances[inst.id] = {
            **metrics,
            "strategy": inst.strategy,
            "symbols": list(inst.symbols),
            "timeframe": inst.timeframe,
            "risk_profile": inst.risk_profile,
            "allocation": inst.allocation,
            "entries_refused": sum(
                1 for e in run.events if e["kind"] == "entry_refused" and e["instance"] == inst.id
            ),
        }
    state = run.final_state
    report = {
        "portfolio": {
            **_metrics(run.equity, run.starting_cash, per_year, len(run.trades)),
            "starting_cash": run.starting_cash,
            "final_tier": state.tier.number,
            "final_stage": state.drawdown.stage,
        },
        "instances": instances,
        "events": run.events,
        "trades": run.trades,
        "window": {
            "start": iso(moment_of(run.times[0])),
            "end": iso(moment_of(run.times[-1])),
            "instants": int(run.times.size),
        },
        "conventions": run.conventions,
        "data": data or {},
    }
    return json_safe(report)
