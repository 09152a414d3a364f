-- Order book levels of partitions that passed every blocking quality check (a partition
-- whose ERROR check failed in raw.partition_checks stays out, as in stg_ohlcv).
with levels as (
    select * from {{ source('raw', 'order_book_snapshots') }}
),

blocked_partitions as (
    select distinct partition_key
    from {{ source('raw', 'partition_checks') }}
    where asset_key = 'raw/order_book_snapshots' and not passed and severity = 'ERROR'
)

select
    exchange,
    symbol,
    snapshot_ts,
    side,
    level,
    price,
    amount,
    source,
    ingested_at
from levels
where strftime(snapshot_ts, '%Y-%m-%d') || '|' || replace(symbol, '/', '-')
    not in (select partition_key from blocked_partitions)
