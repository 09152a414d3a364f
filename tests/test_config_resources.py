"""Every resource that mirrors a configuration section declares every field of it: a field
added to the section but not to the resource fails at run time (``settings`` reads each one),
as ``news.hack_rule`` once failed every news ingest."""

from __future__ import annotations

import pytest

from trading_core.config import load_config
from trading_pipelines.resources.alt_data import NewsResource, OnchainResource, SocialResource
from trading_pipelines.resources.market import MarketDataResource

RESOURCES = [MarketDataResource, SocialResource, NewsResource, OnchainResource]


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.__name__)
def test_the_resource_declares_every_field_of_its_section(resource) -> None:
    missing = set(resource.section.model_fields) - set(resource.model_fields)
    assert not missing, f"{resource.__name__} lacks {sorted(missing)}"


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.__name__)
def test_the_resource_round_trips_its_section(resource, tmp_path) -> None:
    config = load_config(environ={"TRADING_HOME": str(tmp_path)})
    section = next(
        getattr(config, name)
        for name in type(config).model_fields
        if isinstance(getattr(config, name), resource.section)
    )
    extra = {"samples_root": str(tmp_path)} if "samples_root" in resource.model_fields else {}
    assert resource.from_config(section, **extra).settings() == section
