-- Open positions per mode/exchange/symbol from the trade journal, marked to the latest
-- known close (the newest candle of any timeframe).
with last_row as (
    select *
    from {{ ref('fct_trade_journal') }}
    qualify row_number() over (partition by mode, exchange, symbol order by sequence desc) = 1
),

totals as (
    select
        mode,
        exchange,
        symbol,
        sum(realized_pnl) as realized_pnl,
        sum(fee) as fees,
        count(*) as fills
    from {{ ref('fct_trade_journal') }}
    group by mode, exchange, symbol
),

marks as (
    select
        exchange,
        symbol,
        arg_max(close, available_at) as mark_price,
        max(available_at) as marked_at
    from {{ ref('stg_ohlcv') }}
    group by exchange, symbol
)

select
    l.mode,
    l.exchange,
    l.symbol,
    l.strategy,
    l.position_after as quantity,
    l.average_cost_after as average_cost,
    m.mark_price,
    m.marked_at,
    l.position_after * m.mark_price as market_value,
    (m.mark_price - l.average_cost_after) * l.position_after as unrealized_pnl,
    t.realized_pnl,
    t.fees,
    t.fills,
    l.event_time as last_fill_at
from last_row as l
inner join totals as t using (mode, exchange, symbol)
left join marks as m using (exchange, symbol)
where abs(l.position_after) > 1e-12
