"""The composite signal per exchange/symbol/timeframe/bar, with its reasons.

trading_core.signals.composite turns every input (MACD, RSI, Bollinger, trend, sentiment,
order-book imbalance) into a value in [-1, 1] with a confidence; the score is their
confidence-weighted mean with the configured weights; BUY / SELL / HOLD by the configured
thresholds; `reasons` keeps each input's value, normalised value, confidence, weight and
contribution. `confluence` aligns the score of this timeframe with every higher configured
timeframe of the same market, point in time (a higher bar counts only once it closed).
"""

import json

import pandas as pd

KEYS = ["exchange", "symbol", "timeframe"]


def _with_confluence(market: pd.DataFrame) -> pd.DataFrame:
    from trading_core.signals import confluence
    from trading_core.timeframes import timeframe_seconds

    by_tf = {tf: frame for tf, frame in market.groupby("timeframe")}
    ordered = sorted(by_tf, key=timeframe_seconds)
    out = []
    for i, tf in enumerate(ordered):
        aligned = confluence({t: by_tf[t] for t in ordered[i:]})
        out.append(by_tf[tf].merge(aligned[["ts", "confluence", "aligned"]], on="ts", how="left"))
    return pd.concat(out, ignore_index=True)


def model(dbt, session):
    dbt.config(materialized="table")
    from trading_core.signals import composite

    weights = json.loads(dbt.config.get("signal_weights_json") or "{}") or None
    inputs = dbt.ref("int_signal_inputs").df()
    scored = []
    for _, series in inputs.groupby(KEYS, sort=True):
        series = series.sort_values("ts").reset_index(drop=True)
        signal = composite(
            series,
            weights=weights,
            buy_threshold=float(dbt.config.get("buy_threshold")),
            sell_threshold=float(dbt.config.get("sell_threshold")),
            min_confidence=float(dbt.config.get("min_confidence")),
        )
        scored.append(pd.concat([series, signal], axis=1))
    if not scored:
        return inputs.assign(
            score=0.0, confidence=0.0, action="", reasons="", confluence=0.0, aligned=False
        ).iloc[0:0]
    frame = pd.concat(scored, ignore_index=True)
    markets = [_with_confluence(m) for _, m in frame.groupby(["exchange", "symbol"], sort=True)]
    return pd.concat(markets, ignore_index=True)
