-- depends_on: {{ source('execution', 'fills') }}
-- One row per exchange fill: the executor may publish a fill again after a crash, so the
-- staging model keeps the first publication of each fill_id (exchange:symbol:trade_id;
-- exchanges number trades per symbol).
with published as (
    {{ read_lake('execution/fills', {
        'fill_id': 'varchar', 'exchange': 'varchar', 'trade_id': 'varchar',
        'client_order_id': 'varchar', 'exchange_order_id': 'varchar', 'intent_id': 'varchar',
        'strategy': 'varchar', 'symbol': 'varchar', 'side': 'varchar',
        'quantity': 'double', 'price': 'double', 'fee': 'double', 'fee_currency': 'varchar',
        'liquidity': 'varchar', 'event_time': 'timestamp', 'mode': 'varchar',
        'published_at': 'timestamp', 'batch_id': 'varchar'
    }) }}
)

select * exclude (row_number_)
from (
    select
        *,
        row_number() over (partition by fill_id order by published_at) as row_number_
    from published
)
where row_number_ = 1
