select
    intent_id,
    strategy,
    exchange,
    symbol,
    timeframe,
    bar_ts,
    decided_at,
    side,
    action,
    order_type,
    notional,
    quantity,
    limit_price,
    reference_price,
    stop_loss,
    take_profit,
    trailing_stop_pct,
    reasons,
    -- The strategy instance (`strategies:` id); the asset writes it into the reasons (the
    -- warehouse table predates instances). Rows written before instances: `default`.
    coalesce(json_extract_string(reasons, '$.instance'), 'default') as instance_id,
    run_id,
    evaluated_at
from {{ source('strategy', 'order_intents') }}
