"""Process settings for the code location: where the project lives, the one root and the
configuration. Reading them has no side effects: nothing here writes ``os.environ`` (dbt gets
the absolute ``TRADING_HOME`` from its resource; telemetry is off in ``dagster.yaml``, in
``dbt_project.yml`` and in the environment ``make`` and the launcher give their processes).
"""

from __future__ import annotations

from pathlib import Path

from trading_core.config import Paths, TradingConfig, get_config, get_paths

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# Telemetry off everywhere (Dagster, dbt, Great Expectations) for the processes we start;
# praw is built with check_for_updates=False by its client.
TELEMETRY_OFF = {
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
}


def paths() -> Paths:
    """The resolved root (``TRADING_HOME`` made absolute, default ``./.trading``)."""
    return get_paths()


def config() -> TradingConfig:
    return get_config()
