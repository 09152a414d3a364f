-- Hourly equity per mode from the first fill to the newest candle: starting cash + net
-- realized P&L of the fills before each instant + unrealized P&L of the positions held then,
-- each marked to the last candle close known at that instant (ASOF joins: point in time).
-- A book is one strategy instance's sub-position (mode, exchange, symbol, instance_id).
-- Quote currency: fees are the journal's fee_quote (valued at fill time); a fee that could
-- not be valued in quote (fee_unvalued, e.g. BNB without a BNB price) is left out of
-- net_realized_pnl and counted in fees_unvalued, never added as a BNB amount.
{% set starting_cash = var('starting_cash', 500.0) %}

with journal as (
    select * from {{ ref('fct_trade_journal') }}
),

candles as (
    select exchange, symbol, available_at, close from {{ ref('stg_ohlcv') }}
),

bounds as (
    select
        mode,
        date_trunc('hour', min(event_time)) + interval 1 hour as first_at,
        date_trunc('hour', greatest(max(event_time), (select max(available_at) from candles)))
            + interval 1 hour as last_at
    from journal
    group by mode
),

instants as (
    select mode, unnest(generate_series(first_at, last_at, interval 1 hour)) as as_of
    from bounds
),

books as (
    select i.mode, i.as_of, b.exchange, b.symbol, b.instance_id
    from instants as i
    inner join (select distinct mode, exchange, symbol, instance_id from journal) as b
        using (mode)
),

-- each book's state after its last fill at a given instant
book_states as (
    select mode, exchange, symbol, instance_id, event_time, position_after, average_cost_after
    from journal
    qualify row_number() over (
        partition by mode, exchange, symbol, instance_id, event_time order by sequence desc
    ) = 1
),

held as (
    select
        b.mode,
        b.as_of,
        b.exchange,
        b.symbol,
        b.instance_id,
        coalesce(s.position_after, 0) as position,
        s.average_cost_after as average_cost
    from books as b
    asof left join book_states as s
        on b.mode = s.mode and b.exchange = s.exchange and b.symbol = s.symbol
        and b.instance_id = s.instance_id and b.as_of > s.event_time
),

marked as (
    select
        h.*,
        c.close as mark_price,
        case when h.position <> 0 then (c.close - h.average_cost) * h.position else 0 end
            as unrealized_pnl
    from held as h
    asof left join candles as c
        on h.exchange = c.exchange and h.symbol = c.symbol and h.as_of >= c.available_at
),

realized_running as (
    select
        mode,
        event_time,
        sum(realized_pnl_gross - coalesce(fee_quote, 0)) over to_date as net_realized_to_date,
        count(case when fee_unvalued then 1 end) over to_date as fees_unvalued_to_date
    from journal
    window to_date as (
        partition by mode order by event_time, sequence
        rows between unbounded preceding and current row
    )
    qualify row_number() over (partition by mode, event_time order by sequence desc) = 1
),

per_instant as (
    select
        mode,
        as_of,
        sum(unrealized_pnl) as unrealized_pnl,
        sum(position * coalesce(mark_price, average_cost)) as position_value,
        count(case when position <> 0 then 1 end) as open_positions
    from marked
    group by mode, as_of
)

select
    p.mode,
    p.as_of,
    coalesce(r.net_realized_to_date, 0) as net_realized_pnl,
    coalesce(r.fees_unvalued_to_date, 0) as fees_unvalued,
    p.unrealized_pnl,
    p.position_value,
    p.open_positions,
    {{ starting_cash }} + coalesce(r.net_realized_to_date, 0) + p.unrealized_pnl as equity
from per_instant as p
asof left join realized_running as r on p.mode = r.mode and p.as_of > r.event_time
