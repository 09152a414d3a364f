"""Market regime per bar: trending up / trending down / ranging x high / low volatility,
from ADX (+DI/-DI), the Bollinger width and the ATR percentile over the last 100 bars
(trading_core.signals.classify_regime; rolling windows end at the bar: no lookahead).

Incremental (trading_core.incremental): per series, only the bars from where int_indicators
changed (its marks) are classified, re-reading the 99 bars before them that the rolling
percentiles span.
"""

import pandas as pd

KEYS = ["exchange", "symbol", "timeframe"]
INPUTS = ["adx_14", "plus_di_14", "minus_di_14", "atr_14", "close", "bb_width_20_2"]
WINDOW = 100  # bars of the rolling volatility percentiles


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="series_tail",
        series_keys=["exchange", "symbol", "timeframe"],
        marks_for=["int_signal_inputs"],
        post_hook="delete from intermediate.recompute_marks where consumer = 'int_regimes'",
    )
    import trading_core.signals as signals
    from trading_core import incremental as inc

    indicators = dbt.ref("int_indicators")
    recipe = inc.code_version(signals, str(WINDOW))
    if not dbt.is_incremental:
        regimes = _classify(indicators.df(), signals.classify_regime)
        inc.rebuilt(session, "int_regimes", recipe, regimes, ["int_signal_inputs"])
        return regimes

    upstream = f"({indicators.sql_query()})"
    inc.follow_recipe(session, "int_regimes", recipe, str(dbt.this))
    plan = inc.read_marks(session, "int_regimes")
    starts = inc.history_start(session, upstream, plan, WINDOW - 1)
    rows = inc.read_rows(session, upstream, [*KEYS, "ts", *INPUTS], starts)
    return inc.tail(_classify(rows, signals.classify_regime), plan)


def _classify(indicators, classify_regime):
    pieces = []
    for _, series in indicators.groupby(KEYS, sort=True):
        series = series.sort_values("ts")
        labels = classify_regime(series, window=WINDOW).to_numpy()
        pieces.append(series[[*KEYS, "ts"]].assign(regime=labels))
    if not pieces:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in [*KEYS, "regime"]}).assign(
            ts=pd.Series(dtype="datetime64[us]")
        )
    return pd.concat(pieces, ignore_index=True)
