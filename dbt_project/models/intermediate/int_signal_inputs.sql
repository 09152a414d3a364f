-- Everything a signal may use at a bar, joined point in time: the bar's indicators and
-- regime, the trailing-24h sentiment of its base asset as of the bar's close, and the last
-- order-book imbalance snapshotted before the close. ASOF joins only ever look backwards.
--
-- Incremental (trading_core/incremental.py): a bar is joined again when int_indicators or
-- int_regimes changed it (their marks), when an order-book snapshot of its symbol changed at
-- or before its close (int_order_book_features' marks), or when a sentiment hour of its
-- asset changed at or before its close (the hours' fingerprints, compared with those of the
-- last run). The joins then read only the sentiment and books that reach those bars.
{{ config(
    materialized="incremental",
    incremental_strategy="series_tail",
    series_keys=["exchange", "symbol", "timeframe"],
    marks_for=["fct_signals"],
    pre_hook=[
        "{{ signal_chain_marks_ddl() }}",
        "create table if not exists {{ this.schema }}.int_signal_inputs__sentiment_seen
            (asset varchar, available_at timestamp, fingerprint ubigint)",
    ],
    post_hook=[
        "{{ clear_signal_chain_marks('int_signal_inputs') }}",
        "create or replace table {{ this.schema }}.int_signal_inputs__sentiment_seen as
            select asset, available_at, hash(mentions, sentiment_mean) as fingerprint
            from {{ ref('int_sentiment_hourly') }}",
        "{{ mark_all_series(['fct_signals']) }}",
    ],
) }}
{%- set incremental = is_incremental() %}

with
{% if incremental -%}
series_marks as (
    select exchange, symbol, timeframe, min(recompute_from) as recompute_from
    from {{ signal_chain_marks() }}
    where consumer = 'int_signal_inputs' and timeframe is not null
    group by all
),

book_marks as (
    select symbol, min(recompute_from) as recompute_from
    from {{ signal_chain_marks() }}
    where consumer = 'int_signal_inputs' and timeframe is null
    group by all
),

sentiment_now as (
    select asset, available_at, hash(mentions, sentiment_mean) as fingerprint
    from {{ ref('int_sentiment_hourly') }}
),

sentiment_seen as (
    select asset, available_at, fingerprint
    from {{ this.schema }}.int_signal_inputs__sentiment_seen
),

sentiment_marks as (
    select asset, min(available_at) as recompute_from
    from (
        (select * from sentiment_now except select * from sentiment_seen)
        union all
        (select * from sentiment_seen except select * from sentiment_now)
    )
    group by asset
),

-- the earliest bar any mark reaches (a bar closes at most a day after it opens)
horizon as (
    select least(
        (select min(recompute_from) from series_marks),
        (select min(recompute_from) from book_marks) - interval 1 day,
        (select min(recompute_from) from sentiment_marks) - interval 1 day
    ) as ts
),

{% endif -%}
regimes as (
    select * from {{ ref('int_regimes') }}
    {%- if incremental %} where ts >= (select ts from horizon){% endif %}
),

bars as (
    select i.*, r.regime
        {%- if incremental %}, m.recompute_from as _series_mark{% endif %}
    from {{ ref('int_indicators') }} as i
    left join regimes as r
        on i.exchange = r.exchange and i.symbol = r.symbol and i.timeframe = r.timeframe
        and i.ts = r.ts
    {%- if incremental %}
    left join series_marks as m
        on i.exchange = m.exchange and i.symbol = m.symbol and i.timeframe = m.timeframe
    left join book_marks as bm on i.symbol = bm.symbol
    left join sentiment_marks as sm on split_part(i.symbol, '/', 1) = sm.asset
    where i.ts >= (select ts from horizon)
        and (
            i.ts >= m.recompute_from
            or i.available_at >= bm.recompute_from
            or i.available_at >= sm.recompute_from
        )
    {%- endif %}
),

sentiment_24h as (
    select
        asset,
        available_at,
        sum(sentiment_mean * mentions) over last_day / nullif(sum(mentions) over last_day, 0)
            as sentiment_score,
        sum(mentions) over last_day as sentiment_count
    from {{ ref('int_sentiment_hourly') }}
    {%- if incremental %}
    -- complete 23-hour windows for every row a bar may still use (one less than 24h old)
    where available_at >= (select ts from horizon) - interval 48 hours
    {%- endif %}
    window last_day as (
        partition by asset order by available_at
        range between interval 23 hours preceding and current row
    )
),

books as (
    select exchange, symbol, snapshot_ts, imbalance_100bps, spread_bps
    from {{ ref('int_order_book_features') }}
    {%- if incremental %}
    where snapshot_ts >= (select ts from horizon) - interval 1 hour
    {%- endif %}
),

inputs as (
    select
        b.*{% if incremental %} exclude (_series_mark){% endif %},
        case when s.available_at > b.available_at - interval 24 hours then s.sentiment_score end
            as sentiment_score,
        case when s.available_at > b.available_at - interval 24 hours then s.sentiment_count end
            as sentiment_count,
        case when o.snapshot_ts > b.available_at - interval 1 hour then o.imbalance_100bps end
            as book_imbalance,
        case when o.snapshot_ts > b.available_at - interval 1 hour then o.spread_bps end
            as spread_bps
        {%- if incremental %},
        least(
            min(b.ts) over (partition by b.exchange, b.symbol, b.timeframe), b._series_mark
        ) as _rewrite_from
        {%- endif %}
    from bars as b
    asof left join sentiment_24h as s
        on split_part(b.symbol, '/', 1) = s.asset and b.available_at >= s.available_at
    asof left join books as o
        on b.exchange = o.exchange and b.symbol = o.symbol and b.available_at >= o.snapshot_ts
)

select * from inputs
{%- if incremental %}
-- a marked series left without bars: its stored tail is only deleted
union all by name
select m.exchange, m.symbol, m.timeframe, m.recompute_from as _rewrite_from
from series_marks as m
where not exists (
    select 1 from bars as b
    where b.exchange = m.exchange and b.symbol = m.symbol and b.timeframe = m.timeframe
)
{%- endif %}
