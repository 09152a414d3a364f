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
from {{ source('raw', 'order_book_snapshots') }}
