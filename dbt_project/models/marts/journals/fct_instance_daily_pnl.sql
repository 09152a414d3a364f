-- Daily realized P&L per mode and strategy instance (UTC days of the fills): each
-- instance's sub-positions are their own books in fct_trade_journal, so this is the
-- instance's own P&L (fct_daily_pnl is the account's, with its equity). A day with a fee
-- not valued in quote has null fee_quote/realized_pnl_net. Unrealized P&L per instance is
-- in fct_positions (open sub-positions, marked to the latest close).
select
    mode,
    instance_id,
    cast(event_time as date) as day,
    sum(realized_pnl_gross) as realized_pnl_gross,
    case when bool_or(fee_unvalued) then null else sum(fee_quote) end as fee_quote,
    case when bool_or(fee_unvalued) then null else sum(realized_pnl_net) end as realized_pnl_net,
    count(case when fee_unvalued then 1 end) as fees_unvalued,
    count(distinct fill_id) as fills,
    count(case when role = 'close' then 1 end) as round_trips_closed
from {{ ref('fct_trade_journal') }}
group by mode, instance_id, cast(event_time as date)
