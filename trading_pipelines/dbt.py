"""The dbt project as Dagster assets: one DbtProject, one translator."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
)

from trading_pipelines.settings import DBT_PROJECT_DIR, paths

paths()  # export the absolute TRADING_HOME before dbt reads its profile


def dbt_vars() -> dict[str, object]:
    """Configuration dbt models read with var(). Parsing and every run use the same values:
    different --vars would force dbt to re-parse the whole project on each invocation."""
    from trading_core.config import get_config

    return {"starting_cash": get_config().executor.starting_cash}


DBT_PROJECT = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    prepare_project_cli_args=["parse", "--quiet", "--vars", json.dumps(dbt_vars())],
)
DBT_PROJECT.prepare_if_dev()

# Journals refresh when the executor reports fills or orders, not on every new candle or
# evaluated bar (an intent always precedes its fill, so the fill's refresh sees it).
JOURNAL_IGNORES = dg.AssetSelection.assets(
    dg.AssetKey(["raw", "ohlcv"]),
    dg.AssetKey(["stg_ohlcv"]),
    dg.AssetKey(["strategy", "order_intents"]),
    dg.AssetKey(["stg_order_intents"]),
)
# Social, news and on-chain models refresh when their raw data lands (every 15 minutes);
# the price and order-book models are rebuilt by every strategy evaluation instead.
ALT_DATA_MODELS = {
    "stg_reddit_posts", "stg_x_posts", "stg_news_items", "stg_onchain_metrics",
    "int_sentiment_hourly", "int_onchain_daily",
}  # fmt: skip

# dbt folder -> Dagster group
_GROUPS = {"staging": "staging", "intermediate": "intermediate"}


class TradingDbtTranslator(DagsterDbtTranslator):
    """Models keep their names as keys (stg_*, int_*, fct_*); groups by layer; journals
    refresh when the executor reports fills. Sources map to Dagster keys by their
    ``meta.dagster.asset_key``."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props.get("resource_type") == "model":
            return dg.AssetKey([dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "source":
            return None
        layer = fqn[1] if len(fqn) > 2 else "models"
        if layer == "marts" and len(fqn) > 3:
            return fqn[2]
        return _GROUPS.get(layer, layer)

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        fqn = dbt_resource_props.get("fqn", [])
        name = dbt_resource_props.get("name", "")
        if "journals" in fqn or name in ("stg_fills", "stg_orders"):
            return dg.AutomationCondition.eager().ignore(JOURNAL_IGNORES)
        if name in ALT_DATA_MODELS:
            # their raw sources are daily partitioned and old days are never all present:
            # eager's "no missing dependency" clause would block them forever
            return dg.AutomationCondition.eager().without(
                ~dg.AutomationCondition.any_deps_missing()
            )
        return None


TRANSLATOR = TradingDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True, enable_duplicate_source_asset_keys=True
    )
)


def dbt_resource() -> DbtCliResource:
    """dbt from this environment's bin (dagster-dbt would otherwise need it on PATH)."""
    local = Path(sys.executable).parent / "dbt"
    executable = str(local) if local.exists() else (shutil.which("dbt") or "dbt")
    return DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=executable)
