-- Per snapshot: best prices, mid, spread in basis points, depth within ±0.5 % and ±1 % of
-- the mid (quote value), and bid/ask imbalance of the ±1 % depth in [-1, 1].
with levels as (
    select * from {{ ref('stg_order_book_snapshots') }}
),

best as (
    select
        exchange,
        symbol,
        snapshot_ts,
        max(case when side = 'bid' then price end) as best_bid,
        min(case when side = 'ask' then price end) as best_ask
    from levels
    group by exchange, symbol, snapshot_ts
),

with_mid as (
    select *, (best_bid + best_ask) / 2 as mid
    from best
    where best_bid is not null and best_ask is not null
),

depth as (
    select
        l.exchange,
        l.symbol,
        l.snapshot_ts,
        sum(case when l.side = 'bid' and l.price >= m.mid * 0.995 then l.price * l.amount else 0 end)
            as bid_depth_50bps,
        sum(case when l.side = 'ask' and l.price <= m.mid * 1.005 then l.price * l.amount else 0 end)
            as ask_depth_50bps,
        sum(case when l.side = 'bid' and l.price >= m.mid * 0.99 then l.price * l.amount else 0 end)
            as bid_depth_100bps,
        sum(case when l.side = 'ask' and l.price <= m.mid * 1.01 then l.price * l.amount else 0 end)
            as ask_depth_100bps
    from levels as l
    inner join with_mid as m using (exchange, symbol, snapshot_ts)
    group by l.exchange, l.symbol, l.snapshot_ts
)

select
    m.exchange,
    m.symbol,
    m.snapshot_ts,
    m.best_bid,
    m.best_ask,
    m.mid,
    (m.best_ask - m.best_bid) / m.mid * 10000 as spread_bps,
    d.bid_depth_50bps,
    d.ask_depth_50bps,
    d.bid_depth_100bps,
    d.ask_depth_100bps,
    case
        when d.bid_depth_100bps + d.ask_depth_100bps > 0
            then (d.bid_depth_100bps - d.ask_depth_100bps) / (d.bid_depth_100bps + d.ask_depth_100bps)
    end as imbalance_100bps
from with_mid as m
inner join depth as d using (exchange, symbol, snapshot_ts)
