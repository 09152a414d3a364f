"""The dbt project as Dagster assets: one DbtProject, one translator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from trading_pipelines.settings import DBT_PROJECT_DIR, paths

paths()  # export the absolute TRADING_HOME before dbt reads its profile

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
DBT_PROJECT.prepare_if_dev()

# Upstream keys of market data: journals refresh on fills, not on every new candle.
MARKET_KEYS = (dg.AssetKey(["raw", "ohlcv"]), dg.AssetKey(["stg_ohlcv"]))
EXECUTION_KEYS = (dg.AssetKey(["execution", "fills"]), dg.AssetKey(["execution", "orders"]))

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
        if "journals" in fqn or name in ("stg_fills", "stg_orders", "stg_order_intents"):
            return dg.AutomationCondition.eager().ignore(dg.AssetSelection.assets(*MARKET_KEYS))
        return None


TRANSLATOR = TradingDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True, enable_duplicate_source_asset_keys=True
    )
)
