-- Per snapshot: best prices, mid, spread in basis points, depth within ±0.5 % and ±1 % of
-- the mid (quote value), and bid/ask imbalance of the ±1 % depth in [-1, 1].
--
-- Incremental (trading_core/incremental.py): per symbol, the snapshots from the first one
-- written since the last run (`ingested_at`), or from the start of a partition rewritten or
-- re-checked since then (`raw.partition_checks`), are computed again; int_signal_inputs is
-- marked where the features really changed.
{{ config(
    materialized="incremental",
    incremental_strategy="series_tail",
    series_keys=["symbol"],
    series_time="snapshot_ts",
    marks_for=["int_signal_inputs"],
    pre_hook=[
        "create table if not exists {{ this.schema }}.int_order_book_features__watermark
            (ingested_at timestamp, ingested_rows bigint, checked_at timestamp,
            checked_rows bigint)",
    ],
    post_hook=[
        "create or replace table {{ this.schema }}.int_order_book_features__watermark as
            with snapshots as (select * from {{ source('raw', 'order_book_snapshots') }}),
            checks as (
                select * from {{ source('raw', 'partition_checks') }}
                where asset_key = 'raw/order_book_snapshots'
            ),
            newest as (
                select (select max(ingested_at) from snapshots) as ingested_at,
                    (select max(checked_at) from checks) as checked_at
            )
            select
                ingested_at,
                (select count(*) from snapshots as s where s.ingested_at = n.ingested_at)
                    as ingested_rows,
                checked_at,
                (select count(*) from checks as c where c.checked_at = n.checked_at)
                    as checked_rows
            from newest as n",
        "{{ mark_all_series(['int_signal_inputs'], keys=['symbol']) }}",
    ],
) }}
{%- set incremental = is_incremental() %}

with
{% if incremental -%}
watermark as (
    select
        max(ingested_at) as ingested_at, max(ingested_rows) as ingested_rows,
        max(checked_at) as checked_at, max(checked_rows) as checked_rows, count(*) as runs
    from {{ this.schema }}.int_order_book_features__watermark
),

snapshots as (select * from {{ source('raw', 'order_book_snapshots') }}),

checks as (
    select * from {{ source('raw', 'partition_checks') }}
    where asset_key = 'raw/order_book_snapshots'
),

-- written after the watermark: later than it, or at that very instant when the rows
-- carrying it changed in number (another write on a clock that did not move)
rewrites as (
    select symbol, min(recompute_from) as recompute_from
    from (
        select symbol, min(snapshot_ts) as recompute_from
        from snapshots, watermark as w
        where w.ingested_at is null or snapshots.ingested_at > w.ingested_at
            or (snapshots.ingested_at = w.ingested_at and w.ingested_rows
                <> (select count(*) from snapshots as s where s.ingested_at = w.ingested_at))
        group by symbol
        union all
        select
            regexp_replace(split_part(partition_key, '|', 2), '-', '/'),
            cast(split_part(partition_key, '|', 1) as timestamp)
        from checks, watermark as w
        where w.checked_at is null or checks.checked_at > w.checked_at
            or (checks.checked_at = w.checked_at and w.checked_rows
                <> (select count(*) from checks as c where c.checked_at = w.checked_at))
        union all
        -- a table built before it was incremental has no watermark: every symbol again
        select symbol, timestamp '1970-01-01'
        from {{ this }}
        where (select runs from watermark) = 0
        group by symbol
    )
    group by symbol
),

{% endif -%}
levels as (
    select l.* from {{ ref('stg_order_book_snapshots') }} as l
    {%- if incremental %}
    semi join rewrites as r on l.symbol = r.symbol and l.snapshot_ts >= r.recompute_from
    where l.snapshot_ts >= (select min(recompute_from) from rewrites)
    {%- endif %}
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
    {%- if incremental %},
    r.recompute_from as _rewrite_from
    {%- endif %}
from with_mid as m
inner join depth as d using (exchange, symbol, snapshot_ts)
{%- if incremental %}
inner join rewrites as r using (symbol)
-- a symbol left without snapshots: its stored tail is only deleted
union all by name
select symbol, recompute_from as _rewrite_from
from rewrites as r
where not exists (select 1 from levels as l where l.symbol = r.symbol)
{%- endif %}
