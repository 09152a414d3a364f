"""One row per position (round trip, flat to flat): entry and exit, holding period, exit
reason, maximum favourable and adverse excursion from the candles of the holding period,
and the signals and market conditions at the entry bar (fct_signals), with the on-chain
metrics of the base asset known at the entry (int_onchain_daily). Built by
trading_core.journal_trades.trades."""

import pandas as pd

SIGNAL_COLUMNS = (
    "exchange, symbol, timeframe, ts, available_at, close, atr_14, regime, sentiment_score, "
    "score, confidence, action, reasons"
)


def _quoted(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in sorted(set(values)))


def _entry_bars(dbt, session, journal: pd.DataFrame) -> pd.DataFrame:
    """Only the fct_signals bars an entry can use (its decision bar, or for an entry without
    one the bars that closed in the 2 days before it): reasons make whole histories heavy."""
    entries = journal.loc[journal["role"] == "open", ["exchange", "symbol", "event_time", "bar_ts"]]
    session.register("_trade_entries", entries)
    try:
        return session.execute(
            f"""select distinct s.* from (select {SIGNAL_COLUMNS}
                from ({dbt.ref("fct_signals").sql_query()})) as s
            inner join _trade_entries as e on s.exchange = e.exchange and s.symbol = e.symbol
                and ((e.bar_ts is not null and s.ts = e.bar_ts) or (e.bar_ts is null
                and s.available_at <= e.event_time
                and s.available_at > e.event_time - interval 2 day))"""
        ).df()
    finally:
        session.unregister("_trade_entries")


def model(dbt, session):
    dbt.config(materialized="table")
    from executor.orders import ROLE_CODES
    from trading_core.journal_trades import ONCHAIN_MAX_AGE, trades

    journal = dbt.ref("fct_trade_journal").df()
    candles = dbt.ref("stg_ohlcv").filter("false")
    signals = dbt.ref("fct_signals").filter("false")
    onchain = dbt.ref("int_onchain_daily").filter("false")
    if len(journal):
        symbols = _quoted(journal["symbol"])
        start = pd.Timestamp(journal["event_time"].min()) - pd.Timedelta(days=2)
        end = pd.Timestamp(journal["event_time"].max())
        candles = dbt.ref("stg_ohlcv").filter(
            f"symbol in ({symbols}) and available_at > timestamp '{start}'"
        )
        signals = _entry_bars(dbt, session, journal)
        assets = _quoted(journal["symbol"].str.split("/").str[0].str.upper())
        onchain = dbt.ref("int_onchain_daily").filter(
            f"upper(asset) in ({assets}) and available_at > timestamp '{start - ONCHAIN_MAX_AGE}' "
            f"and available_at <= timestamp '{end}'"
        )
    candles = candles.project("exchange, symbol, timeframe, ts, available_at, high, low").df()
    signals = signals if isinstance(signals, pd.DataFrame) else signals.project(SIGNAL_COLUMNS).df()
    onchain = onchain.project("asset, metric, available_at, value").df()
    out = trades(journal, candles, signals, ROLE_CODES, onchain)
    text = [
        "mode", "exchange", "symbol", "instance_id", "strategy", "direction", "timeframe",
        "entry_intent_id", "exit_reason", "entry_action", "regime", "onchain_at_entry",
    ]  # fmt: skip
    out = out.astype({c: "string" for c in text if c in out.columns})
    out["is_closed"] = out["is_closed"].astype(bool)
    for column in ("opened_at", "closed_at", "entry_bar_ts"):
        out[column] = pd.to_datetime(out[column])
    out = out.astype({"round_trip": "int64", "fills": "int64", "fees_unvalued": "int64"})
    numeric = [
        "entry_quantity", "realized_pnl_gross", "fee_quote", "realized_pnl_net",
        "entry_price", "exit_price", "max_quantity", "holding_seconds", "mfe", "mae",
        "mfe_price", "mae_price", "entry_score", "entry_confidence", "technical_score",
        "sentiment_score", "volatility",
    ]  # fmt: skip
    return out.astype({c: "float64" for c in numeric})
