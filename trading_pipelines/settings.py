"""Process settings for the code location: the one root and the environment dbt inherits.

Importing this module makes ``TRADING_HOME`` absolute in ``os.environ`` so that dbt (run by
dagster-dbt with cwd ``dbt_project/``) and every subprocess resolve the same files.
"""

from __future__ import annotations

import os
from pathlib import Path

from trading_core.config import Paths, TradingConfig, get_config, get_paths

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

# Telemetry off everywhere (Dagster, dbt, Great Expectations); praw is built with
# check_for_updates=False by its client.
for _var, _value in {
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
}.items():
    os.environ.setdefault(_var, _value)


def paths() -> Paths:
    """The resolved root, exported so dbt and subprocesses see the same absolute path."""
    resolved = get_paths()
    os.environ["TRADING_HOME"] = str(resolved.home)
    return resolved


def config() -> TradingConfig:
    return get_config()
