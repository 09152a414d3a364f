-- depends_on: {{ source('execution', 'fills') }}
-- One row per exchange fill: the executor may publish a fill again after a crash, so the
-- staging model keeps the first publication of each fill_id (exchange:symbol:trade_id;
-- exchanges number trades per symbol). `fee_price_quote` is the exchange's price of a
-- third fee currency (BNB) in quote, published as `fee_price` by executors that know it;
-- older lake files lack the column, so it is read only when some file has it.
{%- set pattern = env_var('TRADING_HOME') ~ '/lake/execution/fills/**/*.parquet' -%}
{%- set ns = namespace(priced=false) -%}
{%- if execute -%}
  {%- set found = run_query("select count(*) from glob('" ~ pattern ~ "')").columns[0].values()[0] -%}
  {%- if found > 0 -%}
    {%- set ns.priced = run_query("select count(*) from parquet_schema('" ~ pattern ~ "') where name = 'fee_price'").columns[0].values()[0] > 0 -%}
  {%- endif -%}
{%- endif -%}
{%- set columns = {
    'fill_id': 'varchar', 'exchange': 'varchar', 'trade_id': 'varchar',
    'client_order_id': 'varchar', 'exchange_order_id': 'varchar', 'intent_id': 'varchar',
    'strategy': 'varchar', 'symbol': 'varchar', 'side': 'varchar',
    'quantity': 'double', 'price': 'double', 'fee': 'double', 'fee_currency': 'varchar',
    'liquidity': 'varchar', 'event_time': 'timestamp', 'mode': 'varchar',
    'published_at': 'timestamp', 'batch_id': 'varchar'
} -%}
{%- if ns.priced -%}{%- do columns.update({'fee_price': 'double'}) -%}{%- endif %}

with published as (
    {{ read_lake('execution/fills', columns) }}
)

select
    * exclude (row_number_{% if ns.priced %}, fee_price{% endif %}),
    {% if ns.priced %}fee_price{% else %}cast(null as double){% endif %} as fee_price_quote
from (
    select
        *,
        row_number() over (partition by fill_id order by published_at) as row_number_
    from published
)
where row_number_ = 1
