"""Every dbt model as an asset; dbt tests become asset checks. A warehouse writer: pool
``duckdb_warehouse``."""

import json
import shutil

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from trading_pipelines.dbt import DBT_PROJECT, TRANSLATOR, dbt_vars


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    pool="duckdb_warehouse",
    retry_policy=dg.RetryPolicy(max_retries=1, delay=5),
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    invocation = dbt.cli(["build", "--vars", json.dumps(dbt_vars())], context=context)
    yield from invocation.stream()
    # Each invocation gets its own target directory; evaluation runs happen every bar, so a
    # finished one is removed (a failed run keeps it, with dbt.log, for diagnosis).
    shutil.rmtree(invocation.target_path, ignore_errors=True)
