-- VADER sentiment per base asset and hour, from Reddit, X and news. A bucket is knowable at
-- its end (`available_at`): signals join it point in time with ASOF joins on that column.
with mentions as (
    select 'reddit' as channel, published_at, unnest(string_split(symbols, ',')) as asset,
        sentiment_compound
    from {{ ref('stg_reddit_posts') }}
    where symbols is not null and symbols <> ''
    union all
    select 'x', published_at, unnest(string_split(symbols, ',')), sentiment_compound
    from {{ ref('stg_x_posts') }}
    where symbols is not null and symbols <> ''
    union all
    select 'news', published_at, unnest(string_split(symbols, ',')), sentiment_compound
    from {{ ref('stg_news_items') }}
    where symbols is not null and symbols <> ''
)

select
    trim(asset) as asset,
    date_trunc('hour', published_at) as hour,
    date_trunc('hour', published_at) + interval 1 hour as available_at,
    count(*) as mentions,
    avg(sentiment_compound) as sentiment_mean,
    avg(case when channel = 'reddit' then sentiment_compound end) as sentiment_reddit,
    avg(case when channel = 'x' then sentiment_compound end) as sentiment_x,
    avg(case when channel = 'news' then sentiment_compound end) as sentiment_news,
    count(case when channel = 'reddit' then 1 end) as mentions_reddit,
    count(case when channel = 'x' then 1 end) as mentions_x,
    count(case when channel = 'news' then 1 end) as mentions_news
from mentions
group by 1, 2, 3
