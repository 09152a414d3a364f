"""Per-period results of one backtest (freqtrade's ``--breakdown day|week|month``).

``breakdown(result, "month")`` gives one row per calendar period (UTC; weeks start on
Monday) from the result's equity curve and closed trades: the equity at the period's start
and end, the period's return (end / start - 1, the start being the previous period's last
mark, or the initial cash for the first), the trades *closed* in it (by exit time) with
their P&L, wins, draws and losses. The returns compound to the backtest's total return.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PERIODS: dict[str, str] = {"day": "D", "week": "W-MON", "month": "M"}


def _period_of(stamps: pd.Series | pd.DatetimeIndex, period: str) -> pd.Index:
    index = pd.DatetimeIndex(stamps)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    if period == "week":
        return (index.normalize() - pd.to_timedelta(index.weekday, unit="D")).rename("period")
    return index.to_period(PERIODS[period]).to_timestamp().rename("period")


def breakdown(
    equity: pd.Series, trades: pd.DataFrame, initial_cash: float, period: str
) -> pd.DataFrame:
    """The table described in the module docstring; ``period``: day, week or month."""
    if period not in PERIODS:
        raise ValueError(f"--breakdown {period!r} is not allowed; allowed: {tuple(PERIODS)}")
    if equity.empty:
        raise ValueError("the backtest has no equity curve to break down")
    keys = _period_of(equity.index, period)
    values = pd.Series(equity.to_numpy(dtype=float), index=keys)
    end = values.groupby(level=0).last()
    start = end.shift(1)
    start.iloc[0] = float(initial_cash)
    table = pd.DataFrame({"start_equity": start, "end_equity": end})
    table["return"] = table["end_equity"] / table["start_equity"] - 1.0
    pnl = trades["pnl"].to_numpy(dtype=float) if len(trades) else np.zeros(0)
    closed = pd.DataFrame(
        {
            "period": _period_of(pd.Series(trades["exit_ts"]), period) if len(trades) else [],
            "pnl": pnl,
        }
    )
    grouped = closed.groupby("period")["pnl"]
    table["trades"] = grouped.size().reindex(table.index, fill_value=0).astype(int)
    table["pnl"] = grouped.sum().reindex(table.index, fill_value=0.0)
    outcomes = {"wins": closed["pnl"] > 0, "draws": closed["pnl"] == 0, "losses": closed["pnl"] < 0}
    for name, test in outcomes.items():
        counts = test.groupby(closed["period"]).sum()
        table[name] = counts.reindex(table.index, fill_value=0).astype(int)
    table.index.name = "period"
    return table.reset_index()


def breakdown_records(table: pd.DataFrame, period: str) -> list[dict[str, Any]]:
    """JSON-ready rows (``period`` as an ISO date)."""
    out = table.copy()
    out["period"] = [pd.Timestamp(p).date().isoformat() for p in out["period"]]
    return [{"period_kind": period, **row} for row in out.to_dict(orient="records")]


def format_breakdown(table: pd.DataFrame, period: str) -> str:
    """A readable table for the terminal."""
    lines = [
        f"Breakdown by {period} (UTC; trades counted in the period they closed)",
        f"  {'period':<10} {'return':>9} {'end equity':>14} {'trades':>6} {'pnl':>12} {'W/D/L':>9}",
    ]
    for row in table.itertuples(index=False):
        wdl = f"{row.wins}/{row.draws}/{row.losses}"
        lines.append(
            f"  {pd.Timestamp(row.period).date().isoformat():<10} {row[3]:>+9.2%} "
            f"{row.end_equity:>14,.2f} {row.trades:>6} {row.pnl:>12,.2f} {wdl:>9}"
        )
    return "\n".join(lines)
