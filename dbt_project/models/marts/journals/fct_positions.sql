-- Open positions per mode/exchange/symbol and strategy instance (each instance's
-- sub-position; the exchange position is their sum) from the trade journal, marked to the latest
-- known close (the newest candle of any timeframe). Amounts in the quote currency; a fee
-- that could not be valued in quote (fee_unvalued) leaves fee_quote and realized_pnl_net
-- null and is counted in fees_unvalued.
with last_row as (
    select *
    from {{ ref('fct_trade_journal') }}
    qualify row_number() over (partition by mode, exchange, symbol, instance_id order by sequence desc) = 1
),

totals as (
    select
        mode,
        exchange,
        symbol,
        instance_id,
        sum(realized_pnl_gross) as realized_pnl_gross,
        case when bool_or(fee_unvalued) then null else sum(fee_quote) end as fee_quote,
        case when bool_or(fee_unvalued) then null else sum(realized_pnl_net) end
            as realized_pnl_net,
        count(case when fee_unvalued then 1 end) as fees_unvalued,
        count(*) as fills
    from {{ ref('fct_trade_journal') }}
    group by mode, exchange, symbol, instance_id
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
    l.instance_id,
    l.strategy,
    l.position_after as quantity,
    l.average_cost_after as average_cost,
    m.mark_price,
    m.marked_at,
    l.position_after * m.mark_price as market_value,
    (m.mark_price - l.average_cost_after) * l.position_after as unrealized_pnl,
    t.realized_pnl_gross,
    t.fee_quote,
    t.realized_pnl_net,
    t.fees_unvalued,
    t.fills,
    l.event_time as last_fill_at
from last_row as l
inner join totals as t using (mode, exchange, symbol, instance_id)
left join marks as m using (exchange, symbol)
where abs(l.position_after) > 1e-12
