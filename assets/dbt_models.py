"""Every dbt model as an asset; dbt tests become asset checks. A warehouse writer: pool
``duckdb_warehouse``. Tags set in the dbt project decide each model's automation and whether
the evaluation job builds it (``trading_pipelines.dbt``)."""

import json
import shutil
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import dbt_assets

from assets.signal_history import SIGNAL_HISTORY_KEY
from trading_core.incremental_history import HISTORY_ENV
from trading_pipelines.dbt import DBT_PROJECT, TRANSLATOR, TradingDbtResource, dbt_vars


def history_env(run_keys: AbstractSet[dg.AssetKey]) -> dict[str, str]:
    """The evaluation's pass defers the history behind the live edge when its run also folds
    it after the intents (``signals/history`` among ``run_keys``, the assets the run
    materializes); any other run folds it within the budget itself."""
    return {HISTORY_ENV: "defer"} if SIGNAL_HISTORY_KEY in run_keys else {}


def run_asset_keys(context: dg.AssetExecutionContext) -> AbstractSet[dg.AssetKey]:
    """The assets this run materializes: its asset selection, else every asset of its job
    (a job's run launched whole carries no selection)."""
    return context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys


def build_dbt_models(manifest: Path | Mapping[str, Any]) -> dg.AssetsDefinition:
    """The dbt models of a manifest (the project's, or another one in tests) as one
    multi-asset."""

    @dbt_assets(
        manifest=manifest,
        project=DBT_PROJECT,
        dagster_dbt_translator=TRANSLATOR,
        pool="duckdb_warehouse",
        retry_policy=dg.RetryPolicy(max_retries=1, delay=5),
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: TradingDbtResource) -> Iterator[Any]:
        env = history_env(run_asset_keys(context))
        # --no-write-json: no manifest.json and run_results.json per invocation (about 1 s
        # of each evaluation's dbt step); the events Dagster records come from dbt's log.
        args = ["build", "--no-write-json", "--vars", json.dumps(dbt_vars())]
        invocation = dbt.cli(args, context=context, env=env)
        yield from invocation.stream()
        # Each invocation gets its own target directory; evaluation runs happen every bar, so
        # a finished one is removed (a failed run keeps it, with dbt.log, for diagnosis).
        shutil.rmtree(invocation.target_path, ignore_errors=True)

    return dbt_models


dbt_models = build_dbt_models(DBT_PROJECT.manifest_path)
