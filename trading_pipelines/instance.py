"""The Dagster home under the one root: its dagster.yaml comes from the repository's."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from trading_pipelines.settings import PROJECT_ROOT, paths

POSTGRES_URL_ENV = "DAGSTER_POSTGRES_URL"


def instance_settings(environ: dict[str, str] | os._Environ[str] | None = None) -> dict:
    """The repository's dagster.yaml, plus dagster-postgres storage when a URL is given."""
    env = os.environ if environ is None else environ
    settings = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    if env.get(POSTGRES_URL_ENV):
        settings["storage"] = {"postgres": {"postgres_url": {"env": POSTGRES_URL_ENV}}}
    return settings


def prepare_dagster_home() -> Path:
    """Write $DAGSTER_HOME/dagster.yaml (DAGSTER_HOME defaults to $TRADING_HOME/dagster)."""
    root = paths().ensure()
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(root.dagster_home)))
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    target.write_text(yaml.safe_dump(instance_settings(), sort_keys=False))
    return home
