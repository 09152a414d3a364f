"""Every fill with the position it left, its average cost, realized P&L gross and net of fees
(the one accounting core, fee-currency aware) and the strategy's reasons for the intent
behind it. A fee in a third currency is valued at the fill's fee_price_quote, else at the
last close of that currency against the quote known at the fill (stg_ohlcv), else the row
is marked fee_unvalued with a reason."""

import pandas as pd

INTENT_COLUMNS = [
    "intent_id",
    "instance_id",  # the strategy instance of the intent behind the fill
    "timeframe",
    "bar_ts",
    "decided_at",
    "action",
    "reference_price",
    "stop_loss",
    "take_profit",
    "reasons",
]
MANUAL_INSTANCE = "manual"  # trading_core.config_portfolio.MANUAL_INSTANCE
TEXT_COLUMNS = ["fee_currency", "fee_asset", "fee_unvalued_reason", "role", "instance_id"]


def _fee_pairs(fills: pd.DataFrame) -> list[str]:
    """The markets that can price a third-currency fee (both directions)."""
    quote = fills["symbol"].str.split("/").str[1].str.split(":").str[0]
    base = fills["symbol"].str.split("/").str[0]
    currency = fills["fee_currency"]
    third = currency.notna() & (currency != quote) & (currency != base)
    pairs = set(currency[third] + "/" + quote[third]) | set(quote[third] + "/" + currency[third])
    return sorted(pairs)


def with_instances(fills: pd.DataFrame, intents: pd.DataFrame) -> pd.DataFrame:
    """Each fill's strategy instance: its intent's (protective and preservation exits carry
    the entry's intent id), else the implicit `manual` instance (an intent submitted by hand,
    an external order): every instance's sub-position is its own book."""
    ids = intents.drop_duplicates("intent_id").set_index("intent_id")["instance_id"]
    instance = fills["intent_id"].map(ids) if len(fills) else pd.Series(dtype="object")
    return fills.assign(instance_id=instance.fillna(MANUAL_INSTANCE).astype("object"))


def model(dbt, session):
    dbt.config(materialized="table")
    from trading_core.journal import build_journal

    fills = dbt.ref("stg_fills").df()
    candles = None
    pairs = _fee_pairs(fills) if len(fills) else []
    if pairs:
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in pairs)
        candles = (
            dbt.ref("stg_ohlcv")
            .filter(f"symbol in ({listed})")
            .project("exchange, symbol, available_at, close")
            .df()
        )
    intents = dbt.ref("stg_order_intents").df()[INTENT_COLUMNS]
    fills = with_instances(fills, intents)
    journal = build_journal(fills, candles)  # books per (mode, exchange, symbol, instance)
    journal = journal.merge(intents.drop(columns="instance_id"), on="intent_id", how="left")
    journal["slippage_bps"] = (
        (journal["price"] / journal["reference_price"] - 1.0)
        * journal["side"].map({"buy": 1.0, "sell": -1.0})
        * 10_000.0
    )
    journal["fee_unvalued"] = journal["fee_unvalued"].astype(bool)
    return pd.DataFrame(journal.astype({c: "string" for c in TEXT_COLUMNS}))
