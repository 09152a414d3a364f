select
    item_id,
    feed,
    title,
    summary,
    link,
    published_at,
    symbols,
    sentiment_compound,
    sentiment_pos,
    sentiment_neu,
    sentiment_neg,
    source,
    ingested_at
from {{ source('raw', 'news_items') }}
