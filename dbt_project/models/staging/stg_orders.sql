-- depends_on: {{ source('execution', 'orders') }}
-- The latest state of every order (the lake holds one row per state change).
with published as (
    {{ read_lake('execution/orders', {
        'client_order_id': 'varchar', 'exchange_order_id': 'varchar', 'intent_id': 'varchar',
        'strategy': 'varchar', 'exchange': 'varchar', 'symbol': 'varchar', 'side': 'varchar',
        'order_type': 'varchar', 'quantity': 'double', 'limit_price': 'double',
        'stop_price': 'double', 'state': 'varchar', 'filled_quantity': 'double',
        'average_price': 'double', 'fee': 'double', 'reason': 'varchar',
        'created_at': 'timestamp', 'updated_at': 'timestamp', 'mode': 'varchar',
        'published_at': 'timestamp', 'batch_id': 'varchar'
    }) }}
)

select * exclude (row_number_)
from (
    select
        *,
        row_number() over (
            partition by client_order_id order by updated_at desc, published_at desc
        ) as row_number_
    from published
)
where row_number_ = 1
