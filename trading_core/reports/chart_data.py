"""The data behind the report's charts, validated: equity with its running peak and drawdown,
P&L per day, P&L per instance, exposure per position.

An instance is the journal's ``instance`` column when it has one, else its ``strategy``
column (today's one ``default`` instance trades under the strategy's name; manual intents
under ``manual``); a fill with neither (an external order) belongs to ``unattributed``."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

UNATTRIBUTED = "unattributed"


class ReportDataError(ValueError):
    """An input table of a report is malformed; the message names the table and column."""


def _require(frame: pd.DataFrame, table: str, columns: list[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ReportDataError(f"{table} must be a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportDataError(f"{table} lacks column(s) {missing}")


def _finite(frame: pd.DataFrame, table: str, column: str, *, allow_null: bool = False) -> None:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna() | ~np.isfinite(values.fillna(0.0))
    if not allow_null:
        bad |= frame[column].isna()
    if bad.any():
        first = frame.loc[bad, column].iloc[0]
        raise ReportDataError(
            f"{table}.{column} must be a finite number: {int(bad.sum())} bad value(s), "
            f"first {first!r}"
        )


def instance_of(frame: pd.DataFrame) -> pd.Series:
    """The instance of each row (see the module docstring)."""
    column = next((c for c in ("instance_id", "instance") if c in frame.columns), None)
    if column is not None:  # the journal models name it instance_id
        label = frame[column]
        if "strategy" in frame.columns:
            label = label.fillna(frame["strategy"])
    elif "strategy" in frame.columns:
        label = frame["strategy"]
    else:
        return pd.Series(UNATTRIBUTED, index=frame.index, dtype="object")
    return label.astype("object").where(label.notna(), UNATTRIBUTED).astype(str)


def equity_drawdown(curve: pd.DataFrame) -> pd.DataFrame:
    """Per mode and instant: equity, its running peak, and the drawdown from that peak (a
    fraction, >= 0). ``curve``: ``mode, as_of, equity`` (fct_equity_curve)."""
    _require(curve, "fct_equity_curve", ["mode", "as_of", "equity"])
    if curve.empty:
        return pd.DataFrame(columns=["mode", "as_of", "equity", "peak", "drawdown"])
    _finite(curve, "fct_equity_curve", "equity")
    as_of = pd.to_datetime(curve["as_of"], errors="coerce")
    if as_of.isna().any():
        raise ReportDataError("fct_equity_curve.as_of must be timestamps, found a null or bad one")
    frame = curve[["mode", "equity"]].assign(as_of=as_of, equity=curve["equity"].astype(float))
    repeated = frame.duplicated(["mode", "as_of"])
    if repeated.any():
        row = frame[repeated].iloc[0]
        raise ReportDataError(
            f"fct_equity_curve has {int(repeated.sum())} duplicate (mode, as_of) row(s), "
            f"first ({row['mode']}, {row['as_of']})"
        )
    frame = frame.sort_values(["mode", "as_of"], kind="stable").reset_index(drop=True)
    frame["peak"] = frame.groupby("mode")["equity"].cummax()
    # equity at or below 0 (a blown account) is a drawdown >= 100 %; a peak that never was
    # positive has no drawdown to measure
    if (frame["peak"] <= 0).any():
        raise ReportDataError(
            "fct_equity_curve.equity must have been > 0 before any instant to measure a "
            "drawdown (the curve starts from the starting cash)"
        )
    frame["drawdown"] = 1.0 - frame["equity"] / frame["peak"]
    return frame[["mode", "as_of", "equity", "peak", "drawdown"]]


def pnl_per_day(daily: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """``mode, day, pnl, realized_pnl_net`` of the days in ``[start, end)`` (fct_daily_pnl;
    ``pnl`` is the change of equity over the day)."""
    _require(daily, "fct_daily_pnl", ["mode", "day", "pnl"])
    days = pd.to_datetime(daily["day"], errors="coerce")
    if days.isna().any():
        raise ReportDataError("fct_daily_pnl.day must be dates, found a null or bad one")
    _finite(daily, "fct_daily_pnl", "pnl")
    net = daily["realized_pnl_net"] if "realized_pnl_net" in daily.columns else np.nan
    frame = pd.DataFrame(
        {"mode": daily["mode"], "day": days, "pnl": daily["pnl"].astype(float)}
    ).assign(realized_pnl_net=pd.to_numeric(net, errors="coerce"))
    if frame.duplicated(["mode", "day"]).any():
        raise ReportDataError("fct_daily_pnl has duplicate (mode, day) rows")
    inside = (frame["day"] >= pd.Timestamp(start)) & (frame["day"] < pd.Timestamp(end))
    return frame[inside].sort_values(["mode", "day"]).reset_index(drop=True)


def instance_pnl_per_day(journal: pd.DataFrame) -> pd.DataFrame:
    """Realized P&L net of fees per UTC day and instance from journal rows
    (``event_time, realized_pnl_net`` plus ``instance``/``strategy``). A day whose fee could
    not be valued in quote has a null net P&L and is counted in ``fees_unvalued``."""
    _require(journal, "fct_trade_journal", ["event_time", "realized_pnl_net"])
    columns = ["day", "instance", "realized_pnl_net", "fees_unvalued", "fills"]
    if journal.empty:
        return pd.DataFrame(columns=columns)
    _finite(journal, "fct_trade_journal", "realized_pnl_net", allow_null=True)
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(journal["event_time"]).dt.floor("D"),
            "instance": instance_of(journal),
            "net": pd.to_numeric(journal["realized_pnl_net"]),
        }
    )
    grouped = frame.groupby(["day", "instance"], sort=True)["net"]
    out = grouped.agg(
        realized_pnl_net=lambda s: s.sum() if s.notna().all() else np.nan,
        fees_unvalued=lambda s: int(s.isna().sum()),
        fills="size",
    )
    return out.reset_index()[columns]


def instance_summary(trades: pd.DataFrame) -> pd.DataFrame:
    """Per instance over closed round trips (fct_trades): trades, wins, losses, win rate,
    realized P&L net of fees, best and worst trade. Unvalued fees leave a trade out of the
    net figures and are counted in ``unvalued``."""
    _require(trades, "fct_trades", ["is_closed", "realized_pnl_net"])
    columns = [
        "instance", "trades", "wins", "losses", "win_rate", "realized_pnl_net",
        "best", "worst", "unvalued",
    ]  # fmt: skip
    closed = trades[trades["is_closed"].astype(bool)] if len(trades) else trades
    if closed.empty:
        return pd.DataFrame(columns=columns)
    _finite(closed, "fct_trades", "realized_pnl_net", allow_null=True)
    rows = []
    for instance, group in closed.groupby(instance_of(closed), sort=True):
        net = pd.to_numeric(group["realized_pnl_net"]).dropna()
        wins = int((net > 0).sum())
        rows.append(
            {
                "instance": instance,
                "trades": len(group),
                "wins": wins,
                "losses": len(net) - wins,
                "win_rate": wins / len(net) if len(net) else math.nan,
                "realized_pnl_net": float(net.sum()),
                "best": float(net.max()) if len(net) else math.nan,
                "worst": float(net.min()) if len(net) else math.nan,
                "unvalued": len(group) - len(net),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def exposure(positions: pd.DataFrame) -> pd.DataFrame:
    """Open positions for the exposure chart: ``label, market_value, unrealized_pnl``
    (fct_positions; a position without a mark has no market value and is kept, at 0)."""
    _require(positions, "fct_positions", ["symbol", "quantity"])
    if positions.empty:
        return pd.DataFrame(columns=["label", "market_value", "unrealized_pnl"])
    _finite(positions, "fct_positions", "quantity")
    value = pd.to_numeric(positions.get("market_value", np.nan), errors="coerce")
    unrealized = pd.to_numeric(positions.get("unrealized_pnl", np.nan), errors="coerce")
    label = instance_of(positions) + " " + positions["symbol"].astype(str)
    return pd.DataFrame(
        {
            "label": label,
            "market_value": pd.Series(value, index=positions.index).fillna(0.0),
            "unrealized_pnl": pd.Series(unrealized, index=positions.index),
        }
    ).reset_index(drop=True)
