"""The code location built from an edited dbt manifest: models renamed, tags removed. What
Dagster does with a model must follow its tags, so these edits show what a rename or a
forgotten tag would do to automation and to the evaluation job."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import dagster as dg

from assets.dbt_models import build_dbt_models, dbt_models
from trading_pipelines.dbt import DBT_PROJECT
from trading_pipelines.definitions import defs


def manifest() -> dict[str, Any]:
    return json.loads(DBT_PROJECT.manifest_path.read_text())


def models(of: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Model name -> its manifest node."""
    return {n["name"]: n for n in of["nodes"].values() if n["resource_type"] == "model"}


def renamed(renames: Mapping[str, str]) -> dict[str, Any]:
    """The project's manifest as if each model had been renamed (file, refs, tests and all)."""
    text = DBT_PROJECT.manifest_path.read_text()
    for old, new in renames.items():
        assert old in text, f"{old} is not a model of the project"
        text = text.replace(old, new)
    return json.loads(text)


def without_tag(model: str, tag: str) -> dict[str, Any]:
    """The project's manifest with one tag taken off one model."""
    edited = manifest()
    node = models(edited)[model]
    assert tag in node["tags"], f"{model} has no tag {tag}"
    node["tags"] = [t for t in node["tags"] if t != tag]
    node["config"]["tags"] = [t for t in node["config"]["tags"] if t != tag]
    return edited


def location_with(edited: Mapping[str, Any]) -> dg.Definitions:
    """The real code location with its dbt models taken from ``edited``."""
    real = defs()
    others = [a for a in real.assets or [] if a is not dbt_models]
    return dg.Definitions(
        assets=[*others, build_dbt_models(edited)],
        jobs=real.jobs,
        sensors=real.sensors,
        schedules=real.schedules,
        resources=real.resources,
    )
