select
    asset,
    metric,
    ts,
    value,
    source,
    ingested_at
from {{ source('raw', 'onchain_metrics') }}
