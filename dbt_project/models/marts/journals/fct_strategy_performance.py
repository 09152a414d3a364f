"""Per mode, strategy and strategy instance (instance_id): closed round trips, win rate,
profit factor, P&L net of fees (quote currency). A round trip with a fee that could not be
valued in quote has no net P&L: it is counted in round_trips and fee_unvalued_round_trips,
and left out of the net statistics."""

import numpy as np
import pandas as pd

COLUMNS = [
    "mode", "strategy", "instance_id", "round_trips", "fee_unvalued_round_trips", "wins", "losses",
    "win_rate", "realized_pnl_gross", "fee_quote", "realized_pnl_net", "average_win",
    "average_loss", "profit_factor", "first_trade_at", "last_trade_at",
]  # fmt: skip


def model(dbt, session):
    dbt.config(materialized="table")
    from trading_core.journal_trades import round_trips

    journal = dbt.ref("fct_trade_journal").df()
    trips = round_trips(journal)
    closed = trips[trips["is_closed"].astype(bool)] if len(trips) else trips
    rows = []
    keys = ["mode", "strategy", "instance_id"]
    for (mode, strategy, instance), group in closed.groupby(keys, dropna=False):
        valued = group[group["realized_pnl_net"].notna()]
        net = valued["realized_pnl_net"]
        wins, losses = net[net > 0], net[net <= 0]
        rows.append(
            {
                "mode": mode,
                "strategy": strategy,
                "instance_id": instance,
                "round_trips": len(group),
                "fee_unvalued_round_trips": len(group) - len(valued),
                "wins": len(wins),
                "losses": len(losses),
                "win_rate": len(wins) / len(valued) if len(valued) else np.nan,
                "realized_pnl_gross": group["realized_pnl_gross"].sum(),
                "fee_quote": valued["fee_quote"].sum(),
                "realized_pnl_net": net.sum(),
                "average_win": wins.mean() if len(wins) else np.nan,
                "average_loss": losses.mean() if len(losses) else np.nan,
                "profit_factor": wins.sum() / -losses.sum() if losses.sum() < 0 else np.nan,
                "first_trade_at": group["opened_at"].min(),
                "last_trade_at": group["closed_at"].max(),
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"mode": "string", "strategy": "string", "instance_id": "string"})
