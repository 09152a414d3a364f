-- Everything a signal may use at a bar, joined point in time: the bar's indicators and
-- regime, the trailing-24h sentiment of its base asset as of the bar's close, and the last
-- order-book imbalance snapshotted before the close. ASOF joins only ever look backwards.
with bars as (
    select i.*, r.regime
    from {{ ref('int_indicators') }} as i
    left join {{ ref('int_regimes') }} as r using (exchange, symbol, timeframe, ts)
),

sentiment_24h as (
    select
        asset,
        available_at,
        sum(sentiment_mean * mentions) over last_day / nullif(sum(mentions) over last_day, 0)
            as sentiment_score,
        sum(mentions) over last_day as sentiment_count
    from {{ ref('int_sentiment_hourly') }}
    window last_day as (
        partition by asset order by available_at
        range between interval 23 hours preceding and current row
    )
),

books as (
    select exchange, symbol, snapshot_ts, imbalance_100bps, spread_bps
    from {{ ref('int_order_book_features') }}
)

select
    b.*,
    case when s.available_at > b.available_at - interval 24 hours then s.sentiment_score end
        as sentiment_score,
    case when s.available_at > b.available_at - interval 24 hours then s.sentiment_count end
        as sentiment_count,
    case when o.snapshot_ts > b.available_at - interval 1 hour then o.imbalance_100bps end
        as book_imbalance,
    case when o.snapshot_ts > b.available_at - interval 1 hour then o.spread_bps end
        as spread_bps
from bars as b
asof left join sentiment_24h as s
    on split_part(b.symbol, '/', 1) = s.asset and b.available_at >= s.available_at
asof left join books as o
    on b.exchange = o.exchange and b.symbol = o.symbol and b.available_at >= o.snapshot_ts
