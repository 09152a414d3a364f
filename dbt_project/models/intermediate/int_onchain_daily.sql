-- On-chain metrics pivoted to one row per asset and day; a day's values are knowable at the
-- end of that day (`available_at`).
select
    asset,
    date_trunc('day', ts) as day,
    date_trunc('day', ts) + interval 1 day as available_at,
    metric,
    avg(value) as value
from {{ ref('stg_onchain_metrics') }}
group by 1, 2, 3, 4
