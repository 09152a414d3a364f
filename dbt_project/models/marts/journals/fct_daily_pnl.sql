-- Daily P&L per mode (UTC days): the day's fills (realized P&L gross and net, fees valued in
-- quote) and the end-of-day equity from fct_equity_curve; `pnl` is the change of equity over
-- the day. A day with a fee not valued in quote has null fee_quote/realized_pnl_net.
{% set starting_cash = var('starting_cash', 500.0) %}

with curve as (
    select *, cast(as_of - interval 1 microsecond as date) as day
    from {{ ref('fct_equity_curve') }}
),

end_of_day as (
    select *
    from curve
    qualify row_number() over (partition by mode, day order by as_of desc) = 1
),

fills as (
    select
        mode,
        cast(event_time as date) as day,
        sum(realized_pnl_gross) as realized_pnl_gross,
        case when bool_or(fee_unvalued) then null else sum(fee_quote) end as fee_quote,
        case when bool_or(fee_unvalued) then null else sum(realized_pnl_net) end
            as realized_pnl_net,
        count(case when fee_unvalued then 1 end) as fees_unvalued,
        count(distinct fill_id) as fills,
        count(case when role = 'close' then 1 end) as round_trips_closed
    from {{ ref('fct_trade_journal') }}
    group by 1, 2
)

select
    e.mode,
    e.day,
    coalesce(f.realized_pnl_gross, 0) as realized_pnl_gross,
    case when f.mode is null then 0 else f.fee_quote end as fee_quote,
    case when f.mode is null then 0 else f.realized_pnl_net end as realized_pnl_net,
    coalesce(f.fees_unvalued, 0) as fees_unvalued,
    e.unrealized_pnl,
    coalesce(f.fills, 0) as fills,
    coalesce(f.round_trips_closed, 0) as round_trips_closed,
    e.open_positions,
    e.position_value,
    e.equity,
    e.equity - lag(e.equity, 1, {{ starting_cash }}) over (partition by e.mode order by e.day)
        as pnl
from end_of_day as e
left join fills as f using (mode, day)
