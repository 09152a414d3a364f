"""Market regime per bar: trending up / trending down / ranging x high / low volatility,
from ADX (+DI/-DI), the Bollinger width and the ATR percentile over the last 100 bars
(trading_core.signals.classify_regime; rolling windows end at the bar: no lookahead)."""

import pandas as pd

KEYS = ["exchange", "symbol", "timeframe"]


def model(dbt, session):
    dbt.config(materialized="table")
    from trading_core.signals import classify_regime

    indicators = dbt.ref("int_indicators").df()
    pieces = []
    for _, series in indicators.groupby(KEYS, sort=True):
        series = series.sort_values("ts")
        pieces.append(series[[*KEYS, "ts"]].assign(regime=classify_regime(series).to_numpy()))
    if not pieces:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in [*KEYS, "regime"]}).assign(
            ts=pd.Series(dtype="datetime64[us]")
        )
    return pd.concat(pieces, ignore_index=True)
