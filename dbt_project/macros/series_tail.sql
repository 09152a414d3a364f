{#
  Incremental strategy `series_tail` (the signal chain, see trading_core/incremental.py):
  per series (config `series_keys`), every stored row from the series' rewrite point on is
  replaced by the model's new rows. An incremental result carries that point per series in
  `_rewrite_from`; a row whose `series_time` (config, default `ts`) is null only marks a
  series whose stored tail is deleted. With config `marks_for`, each consumer model is told
  where this model's rows really changed: the first row that differs from the stored one.
  The delete carries a literal lower time bound so zone maps skip the older row groups.
#}
{% macro get_incremental_series_tail_sql(arg_dict) %}
  {%- set target = arg_dict["target_relation"] -%}
  {%- set source = arg_dict["temp_relation"] -%}
  {%- set columns = arg_dict["dest_columns"] | map(attribute="name") | list -%}
  {%- set keys = config.get("series_keys") -%}
  {%- set time = config.get("series_time", "ts") -%}
  {%- set consumers = config.get("marks_for", []) -%}
  {%- set cols = columns | join(", ") -%}
  {%- set bound = none -%}
  {%- if execute -%}
    {%- set bound = run_query("select min(_rewrite_from)::varchar from " ~ source).columns[0].values()[0] -%}
  {%- endif -%}
  {%- set in_span -%}
    {% for key in keys %}t.{{ key }} = s.{{ key }} and {% endfor -%}
    t.{{ time }} >= s._rewrite_from
    {%- if bound is not none %} and t.{{ time }} >= timestamp '{{ bound }}'{% endif %}
  {%- endset -%}
  {%- if consumers and bound is not none %}
    {{ signal_chain_marks_ddl() }};
    insert into {{ signal_chain_marks() }} (consumer, exchange, symbol, timeframe, recompute_from)
    with span as (select distinct {{ keys | join(", ") }}, _rewrite_from from {{ source }}),
    stored as (
        select {% for c in columns %}t.{{ c }}{{ ", " if not loop.last }}{% endfor %}
        from {{ target }} as t semi join span as s on {{ in_span }}
    ),
    fresh as (select {{ cols }} from {{ source }} where {{ time }} is not null),
    changed as (
        (select * from fresh except select * from stored)
        union all
        (select * from stored except select * from fresh)
    )
    select consumer,
        {% for key in ["exchange", "symbol", "timeframe"] -%}
        {{ key if key in keys else "null" }}{{ ", " }}
        {%- endfor %}
        min({{ time }})
    from changed cross join (values {% for c in consumers %}('{{ c }}'){{ ", " if not loop.last }}{% endfor %}) as c(consumer)
    group by all;
  {%- endif %}
    delete from {{ target }} as t using (select distinct {{ keys | join(", ") }}, _rewrite_from from {{ source }}) as s
    where {{ in_span }};
    insert into {{ target }} ({{ cols }})
    select {{ cols }} from {{ source }} where {{ time }} is not null;
    {#- dbt-duckdb writes a Python model's "temporary" result as a plain table it never
        drops (one more table in `main` per run): drop it with the write -#}
    drop table if exists {{ source }}
{% endmacro %}


{# The marks table of trading_core/incremental.py (MARKS_TABLE), for SQL models and hooks. #}
{% macro signal_chain_marks() -%}
  intermediate.recompute_marks
{%- endmacro %}

{% macro signal_chain_marks_ddl() -%}
  create table if not exists {{ signal_chain_marks() }} (
      consumer varchar not null, exchange varchar, symbol varchar, timeframe varchar,
      recompute_from timestamp not null)
{%- endmacro %}

{# A consumer's marks are cleared in its post-hook, in the transaction of its write. #}
{% macro clear_signal_chain_marks(consumer) -%}
  {{ signal_chain_marks_ddl() }}; delete from {{ signal_chain_marks() }} where consumer = '{{ consumer }}'
{%- endmacro %}

{# On a full rebuild, a model tells its consumers to rebuild every series it holds. #}
{% macro mark_all_series(consumers, keys=["exchange", "symbol", "timeframe"]) -%}
  {%- if not is_incremental() -%}
    {{ signal_chain_marks_ddl() }};
    insert into {{ signal_chain_marks() }} (consumer, exchange, symbol, timeframe, recompute_from)
    select c.consumer,
        {% for key in ["exchange", "symbol", "timeframe"] -%}
        {{ "t." ~ key if key in keys else "null" }}{{ ", " }}
        {%- endfor %}
        timestamp '1970-01-01'
    from (select distinct {{ keys | join(", ") }} from {{ this }}) as t
    cross join (values {% for c in consumers %}('{{ c }}'){{ ", " if not loop.last }}{% endfor %}) as c(consumer)
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}
