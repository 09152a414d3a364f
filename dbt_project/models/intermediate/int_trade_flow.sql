-- Trade flow per exchange, symbol and bar (var trade_flow_bar, default '1 hour'): taker buy
-- and sell volume, their imbalance in [-1, 1], trade count, VWAP and large trades.
--
-- A trade is large when its notional (price * amount, quote currency) reaches the threshold:
-- the var large_trade_notional when set, else the var large_trade_quantile (default 0.95)
-- of the symbol's trade notionals over the PREVIOUS UTC day, so a bar's threshold uses only
-- trades before it (point in time); a day without a previous day has no threshold (large
-- counts are null, not zero).
-- A bar is knowable at its end (available_at); the funding rate and open interest of the
-- symbol's perpetual known by then are joined ASOF (never a later one).
-- A raw/trades partition whose blocking check failed (raw.partition_checks) is left out.
{%- set bar = var('trade_flow_bar', '1 hour') %}
{%- set notional = var('large_trade_notional', none) %}
{%- set quantile = var('large_trade_quantile', 0.95) %}

with blocked as (
    select distinct partition_key
    from {{ source('raw', 'partition_checks') }}
    where asset_key = 'raw/trades' and severity = 'ERROR' and not passed
),

trades as (
    select
        t.exchange,
        t.symbol,
        t.ts,
        t.side,
        t.price,
        t.amount,
        t.price * t.amount as notional,
        cast(t.ts as date) as day
    from {{ source('market_tape', 'trades') }} as t
    anti join blocked as b
        on b.partition_key = strftime(t.ts, '%Y-%m-%d') || '|' || replace(t.symbol, '/', '-')
),

thresholds as (
    {%- if notional is not none %}
    select distinct exchange, symbol, day, cast({{ notional }} as double) as large_notional
    from trades
    {%- else %}
    select
        exchange,
        symbol,
        cast(day + interval 1 day as date) as day,  -- applies to the next day's bars
        quantile_cont(notional, {{ quantile }}) as large_notional
    from trades
    group by exchange, symbol, day
    {%- endif %}
),

bars as (
    select
        t.exchange,
        t.symbol,
        time_bucket(interval '{{ bar }}', t.ts) as bar_ts,
        count(*) as trades,
        sum(t.amount) as volume,
        coalesce(sum(t.amount) filter (where t.side = 'buy'), 0) as buy_volume,
        coalesce(sum(t.amount) filter (where t.side = 'sell'), 0) as sell_volume,
        sum(t.notional) / sum(t.amount) as vwap,
        max(th.large_notional) as large_trade_threshold,
        case when max(th.large_notional) is not null then
            count(*) filter (where t.notional >= th.large_notional) end as large_trades,
        case when max(th.large_notional) is not null then
            count(*) filter (where t.notional >= th.large_notional and t.side = 'buy')
        end as large_buys,
        case when max(th.large_notional) is not null then
            count(*) filter (where t.notional >= th.large_notional and t.side = 'sell')
        end as large_sells
    from trades as t
    left join thresholds as th using (exchange, symbol, day)
    group by t.exchange, t.symbol, bar_ts
),

timed as (
    select *, bar_ts + interval '{{ bar }}' as available_at
    from bars
),

with_funding as (
    select b.*, f.funding_rate, f.ts as funding_ts
    from timed as b
    asof left join {{ source('market_tape', 'funding_rates') }} as f
        on b.exchange = f.exchange and b.symbol = f.symbol and b.available_at >= f.ts
)

select
    b.exchange,
    b.symbol,
    b.bar_ts,
    b.available_at,
    b.trades,
    b.volume,
    b.buy_volume,
    b.sell_volume,
    case when b.volume > 0 then (b.buy_volume - b.sell_volume) / b.volume end
        as volume_imbalance,
    b.vwap,
    b.large_trade_threshold,
    b.large_trades,
    b.large_buys,
    b.large_sells,
    b.funding_rate,
    b.funding_ts,
    oi.open_interest,
    oi.open_interest_value,
    oi.ts as open_interest_ts
from with_funding as b
asof left join {{ source('market_tape', 'open_interest') }} as oi
    on b.exchange = oi.exchange and b.symbol = oi.symbol and b.available_at >= oi.ts
