{# Schemas are exactly the layer names (staging, intermediate, signals, ...), not
   target-prefixed, so analysts find tables where the docs say they are. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
