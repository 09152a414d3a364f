"""Every default indicator per exchange/symbol/timeframe/bar, computed by
trading_core.indicators.compute_per_series: the same code as `trading indicators` and the
backtester. TA-Lib conventions (EMA seeded with the SMA of its first n values; Wilder
smoothing for RSI/ATR/ADX); values before an indicator's warm-up are null."""


def model(dbt, session):
    dbt.config(materialized="table")
    from trading_core.indicators import compute_per_series

    candles = dbt.ref("stg_ohlcv").df()
    indicators = compute_per_series(candles, keys=("exchange", "symbol", "timeframe"))
    bars = candles[["exchange", "symbol", "timeframe", "ts", "available_at", *PRICE]]
    return bars.merge(indicators, on=["exchange", "symbol", "timeframe", "ts"], how="inner")


PRICE = ["open", "high", "low", "close", "volume"]
