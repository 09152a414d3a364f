"""A warehouse holding ``signals.fct_signals`` rows built from the real Binance candles in
../shared/data/market (the columns the cockpit snapshot copies; regime and score from a
50-bar moving average, reasons as the dbt model stores them: JSON text)."""

from __future__ import annotations

from pathlib import Path

import duckdb

MARKETS = (("BTC/USDT", "binance_BTCUSDT_1h.csv"), ("ETH/USDT", "binance_ETHUSDT_1h.csv"))
BARS = 260


def build_warehouse(path: Path, market_dir: Path) -> None:
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema if not exists signals")
        parts = []
        for symbol, file in MARKETS:
            csv = str(market_dir / file).replace("'", "''")
            parts.append(
                f"""
                select 'binance' as exchange, '{symbol}' as symbol, '1h' as timeframe,
                       ts, close from (
                    select timestamp::timestamptz at time zone 'UTC' as ts, close
                    from read_csv_auto('{csv}') order by ts desc limit {BARS})
                """
            )
        conn.execute(
            f"""
            create or replace table signals.fct_signals as
            with bars as ({" union all ".join(parts)}),
            scored as (
                select *, avg(close) over (partition by symbol order by ts
                                           rows between 49 preceding and current row) as sma
                from bars
            )
            select exchange, symbol, timeframe, ts, ts + interval 1 hour as available_at, close,
                   case when close > sma then 'trend_up' else 'trend_down' end as regime,
                   round((close - sma) / sma * 10, 4) as score, 0.5 as confidence,
                   case when close > sma then 'buy' else 'hold' end as action,
                   '{{"sma_50": ' || round(sma, 2) || ', "close": ' || close || '}}' as reasons,
                   50.0 as rsi_14, 0.0 as macd_hist_12_26_9, 20.0 as adx_14,
                   0.1 as sentiment_score, 0.0 as obv
            from scored
            """
        )
