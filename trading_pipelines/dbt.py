"""The dbt project as Dagster assets: one DbtProject, one translator, the dbt resource.

What Dagster does with a model follows from its dbt tags (set in ``dbt_project.yml`` per
folder or in the models' ``_*.yml``), never from its name, so renaming a model keeps its
automation and its place in the evaluation job:

- ``evaluation``: rebuilt by every strategy evaluation run (the path from a new bar to
  ``fct_signals``); no automation of its own.
- ``journal``: refreshes when the executor reports fills or orders.
- ``alt_data``: refreshes when its social, news or on-chain data lands.

Importing this module has no side effects: the manifest is prepared by
``trading_pipelines.launcher prepare`` (and the tests' session fixture), and dbt gets the
absolute ``TRADING_HOME`` from the resource at each invocation.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping, Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    DbtProject,
)
from pydantic import Field

from assets.execution import EXECUTION_SPECS
from trading_core.config import get_config, get_paths
from trading_pipelines.dbt_in_process import environ, in_process_invocation
from trading_pipelines.settings import DBT_PROJECT_DIR

EVALUATION_TAG = "evaluation"
JOURNAL_TAG = "journal"
ALT_DATA_TAG = "alt_data"
AUTOMATION_TAGS = (JOURNAL_TAG, ALT_DATA_TAG)


def dbt_vars() -> dict[str, object]:
    """Configuration dbt models read with var(). Parsing and every run use the same values:
    different --vars would force dbt to re-parse the whole project on each invocation."""
    cfg = get_config()
    return {
        "starting_cash": cfg.executor.starting_cash,
        "history_rows_per_run": cfg.operations.signal_history_rows_per_run,
    }


DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

EVALUATION_MODELS = dg.AssetSelection.tag(EVALUATION_TAG, "")
JOURNAL_MODELS = dg.AssetSelection.tag(JOURNAL_TAG, "")
# What the executor publishes (external AssetSpecs: selected by key, as group and tag
# selections leave external assets out)
EXECUTOR_REPORTS = dg.AssetSelection.assets(*(spec.key for spec in EXECUTION_SPECS))

# Journals refresh when the executor reports fills or orders, not on every new candle or
# evaluated bar (an intent always precedes its fill, so the fill's refresh sees it): only the
# executor's reports and the journals themselves count as parents.
JOURNAL_CONDITION = dg.AutomationCondition.eager().allow(EXECUTOR_REPORTS | JOURNAL_MODELS)
# Social, news and on-chain raw data is daily partitioned and old days are never all
# present: eager's "no missing dependency" clause would block these models forever.
ALT_DATA_CONDITION = dg.AutomationCondition.eager().without(
    ~dg.AutomationCondition.any_deps_missing()
)
_CONDITIONS = {JOURNAL_TAG: JOURNAL_CONDITION, ALT_DATA_TAG: ALT_DATA_CONDITION}

# dbt folder -> Dagster group
_GROUPS = {"staging": "staging", "intermediate": "intermediate"}


def automation_tag(dbt_resource_props: Mapping[str, Any]) -> str | None:
    """The one automation tag of a model (``journal`` | ``alt_data``), or None."""
    found = [tag for tag in dbt_resource_props.get("tags", []) if tag in AUTOMATION_TAGS]
    if len(found) > 1:
        raise ValueError(
            f"dbt model {dbt_resource_props.get('name')!r} has the tags {found}: "
            f"give it at most one of {list(AUTOMATION_TAGS)}"
        )
    return found[0] if found else None


class TradingDbtTranslator(DagsterDbtTranslator):
    """Models keep their names as keys (stg_*, int_*, fct_*); groups by layer; automation by
    tag. Sources map to Dagster keys by their ``meta.dagster.asset_key``."""

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
        tag = automation_tag(dbt_resource_props)
        return _CONDITIONS[tag] if tag else None


TRANSLATOR = TradingDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True, enable_duplicate_source_asset_keys=True
    )
)


_LOCAL_DBT = Path(sys.executable).parent / "dbt"


class TradingDbtResource(DbtCliResource):
    """dbt with the one root in its environment: ``profiles.yml`` and the lake macro read
    ``env_var('TRADING_HOME')``, and dbt runs with cwd ``dbt_project/``, so a relative or
    missing TRADING_HOME would point dbt at another warehouse than Dagster's.

    dagster-dbt builds the dbt process's environment (and loads the profile for its adapter)
    from ``os.environ`` inside ``cli``; the root is put there for that call only.

    ``in_process`` (default): when the executable is this environment's dbt, dbt runs in
    this process (``trading_pipelines.dbt_in_process``: the run worker has imported dbt
    already; about 3.5 s CPU less per invocation), with the same arguments, environment,
    target folder and Dagster events as the subprocess."""

    trading_home: str
    in_process: bool = Field(
        default=True,
        description="run dbt in this process (this environment's dbt only), not a subprocess",
    )

    @cached_property
    def _cli_version(self) -> Any:
        """The dbt version, read from this environment's dbt-core when the executable is this
        environment's dbt: dagster-dbt would run ``dbt --version``, a whole dbt start (about
        3.4 s CPU), on every invocation, i.e. on every evaluation run."""
        from packaging import version

        if Path(self.dbt_executable).resolve() == _LOCAL_DBT.resolve():
            return version.parse(installed_version("dbt-core"))
        return DbtCliResource._cli_version.func(self)  # type: ignore[attr-defined]

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        """No in-process dbt adapter: dagster-dbt builds one (loading the project, the
        profile and every macro: about 2.5 s CPU per invocation) only to fetch row counts and
        column metadata, which these assets do not ask for (``DbtEventIterator.fetch_*``)."""
        return None

    @property
    def runs_in_process(self) -> bool:
        """Whether ``cli`` runs dbt in this process: asked for, and the executable is this
        environment's dbt (another one can only run as its own process)."""
        return self.in_process and Path(self.dbt_executable).resolve() == _LOCAL_DBT.resolve()

    def cli(
        self, args: Sequence[str], env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> DbtCliInvocation:
        """``dbt <args>``; ``env``: more variables for dbt and its models (e.g.
        ``TRADING_SIGNAL_HISTORY``), set for this invocation only."""
        home = {
            **(env or {}),
            "TRADING_HOME": str(Path(self.trading_home).expanduser().resolve()),
        }
        if self.runs_in_process:
            # the dbt thread sets the root for its invocation (dbt reads it when it starts)
            return in_process_invocation(self, args, env=home, **kwargs)
        with environ(home):
            return super().cli(args, **kwargs)


def dbt_resource(trading_home: Path | None = None) -> TradingDbtResource:
    """dbt from this environment's bin (dagster-dbt would otherwise need it on PATH), on the
    given root (default: this process's TRADING_HOME, made absolute)."""
    local = _LOCAL_DBT
    executable = str(local) if local.exists() else (shutil.which("dbt") or "dbt")
    home = trading_home or get_paths().home
    return TradingDbtResource(
        # dagster-dbt's __init__ takes the DbtProject (the plugin sees the str field)
        project_dir=DBT_PROJECT,  # type: ignore[arg-type]
        dbt_executable=executable,
        trading_home=str(home),
    )
