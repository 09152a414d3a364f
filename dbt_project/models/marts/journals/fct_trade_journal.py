"""Every fill with the position it left, its average cost, realized P&L (average-cost
method) and the strategy's reasons for the intent behind it."""

import pandas as pd

INTENT_COLUMNS = [
    "intent_id",
    "timeframe",
    "bar_ts",
    "decided_at",
    "action",
    "reference_price",
    "stop_loss",
    "take_profit",
    "reasons",
]


def model(dbt, session):
    dbt.config(materialized="table")
    from trading_core.journal import build_journal

    fills = dbt.ref("stg_fills").df()
    intents = dbt.ref("stg_order_intents").df()[INTENT_COLUMNS]
    journal = build_journal(fills)
    if journal.empty:
        journal = journal.astype({"role": "string"})
    journal = journal.merge(intents, on="intent_id", how="left")
    journal["slippage_bps"] = (
        (journal["price"] / journal["reference_price"] - 1.0)
        * journal["side"].map({"buy": 1.0, "sell": -1.0})
        * 10_000.0
    )
    return pd.DataFrame(journal)
