{#
  Read a Parquet dataset of the lake (TRADING_HOME/lake/<dataset>/**/*.parquet).
  Before the executor has published anything the glob matches no file and read_parquet
  would fail, so the macro then yields an empty relation with the contracted columns.
#}
{% macro read_lake(dataset, columns) %}
  {%- set pattern = env_var('TRADING_HOME') ~ '/lake/' ~ dataset ~ '/**/*.parquet' -%}
  {%- set found = 0 -%}
  {%- if execute -%}
    {%- set found = run_query("select count(*) from glob('" ~ pattern ~ "')").columns[0].values()[0] -%}
  {%- endif -%}
  {%- if found > 0 -%}
    select {% for name, type in columns.items() %}cast({{ name }} as {{ type }}) as {{ name }}{% if not loop.last %}, {% endif %}{% endfor %}
    from read_parquet('{{ pattern }}', union_by_name = true)
  {%- else -%}
    select {% for name, type in columns.items() %}cast(null as {{ type }}) as {{ name }}{% if not loop.last %}, {% endif %}{% endfor %}
    where false
  {%- endif -%}
{% endmacro %}

{% macro timeframe_seconds(col) -%}
  case {{ col }}
    when '1m' then 60 when '3m' then 180 when '5m' then 300 when '15m' then 900
    when '30m' then 1800 when '1h' then 3600 when '2h' then 7200 when '4h' then 14400
    when '6h' then 21600 when '8h' then 28800 when '12h' then 43200 when '1d' then 86400
  end
{%- endmacro %}
