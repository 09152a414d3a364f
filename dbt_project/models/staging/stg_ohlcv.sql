-- Closed candles that passed every blocking quality check of their partition.
-- `available_at` (the candle's close) is when the candle became knowable: joins that must be
-- point in time use it, never `ts`.
with candles as (
    select * from {{ source('raw', 'ohlcv') }}
),

blocked_partitions as (
    select distinct partition_key
    from {{ source('raw', 'partition_checks') }}
    where asset_key = 'raw/ohlcv' and not passed and severity = 'ERROR'
)

select
    exchange,
    symbol,
    timeframe,
    ts,
    ts + to_seconds({{ timeframe_seconds('timeframe') }}) as available_at,
    open,
    high,
    low,
    close,
    volume,
    source,
    ingested_at
from candles
where strftime(ts, '%Y-%m-%d') || '|' || replace(symbol, '/', '-')
    not in (select partition_key from blocked_partitions)
