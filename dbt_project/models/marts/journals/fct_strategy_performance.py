"""Per strategy and mode: round trips, win rate, profit factor, P&L net of fees."""

import numpy as np
import pandas as pd


def model(dbt, session):
    dbt.config(materialized="table")
    from trading_core.journal import round_trips

    journal = dbt.ref("fct_trade_journal").df()
    trips = round_trips(journal)
    closed = trips[trips["is_closed"].astype(bool)] if len(trips) else trips
    rows = []
    for (mode, strategy), group in closed.groupby(["mode", "strategy"], dropna=False):
        wins = group.loc[group["net_pnl"] > 0, "net_pnl"]
        losses = group.loc[group["net_pnl"] <= 0, "net_pnl"]
        rows.append(
            {
                "mode": mode,
                "strategy": strategy,
                "round_trips": len(group),
                "wins": len(wins),
                "losses": len(losses),
                "win_rate": len(wins) / len(group),
                "net_pnl": group["net_pnl"].sum(),
                "fees": group["fees"].sum(),
                "average_win": wins.mean() if len(wins) else np.nan,
                "average_loss": losses.mean() if len(losses) else np.nan,
                "profit_factor": wins.sum() / -losses.sum() if losses.sum() < 0 else np.nan,
                "first_trade_at": group["opened_at"].min(),
                "last_trade_at": group["closed_at"].max(),
            }
        )
    columns = [
        "mode", "strategy", "round_trips", "wins", "losses", "win_rate", "net_pnl", "fees",
        "average_win", "average_loss", "profit_factor", "first_trade_at", "last_trade_at",
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"mode": "string", "strategy": "string"})
