select
    post_id,
    published_at,
    symbols,
    sentiment_compound,
    sentiment_pos,
    sentiment_neu,
    sentiment_neg,
    source,
    ingested_at
from {{ source('raw', 'reddit_posts') }}
