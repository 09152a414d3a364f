"""Selection by dbt tags, not model names: what the evaluation job builds and which models
refresh on their own follow tags set in the dbt project, and every model that needs a tag
has it (a model added to the signal path or the journals without one fails here)."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.signal_history import SIGNAL_HISTORY_KEY
from assets.strategy import INTENTS_KEY
from tests.dbt_locations import location_with, manifest, models, renamed, without_tag
from trading_pipelines.dbt import (
    ALT_DATA_TAG,
    AUTOMATION_TAGS,
    EVALUATION_TAG,
    EXECUTOR_REPORTS,
    JOURNAL_TAG,
    TRANSLATOR,
)
from trading_pipelines.definitions import defs
from trading_pipelines.jobs import ALT_KEYS, EVALUATE_STRATEGY, MARKET_KEYS

SIGNAL_PATH = {"int_indicators", "int_regimes", "int_signal_inputs", "fct_signals"}


def dbt_keys(graph) -> set[dg.AssetKey]:
    return {key for key in graph.materializable_asset_keys if "dbt" in graph.get(key).kinds}


def tagged(graph, tag: str) -> set[str]:
    return {key.to_user_string() for key in dbt_keys(graph) if tag in graph.get(key).tags}


def evaluation_models(location: dg.Definitions) -> set[str]:
    job = location.resolve_job_def(EVALUATE_STRATEGY)
    selected = job.asset_layer.selected_asset_keys
    assert INTENTS_KEY in selected
    assert SIGNAL_HISTORY_KEY in selected  # the history behind the edge, after the intents
    assert set(MARKET_KEYS) <= selected  # the run ingests its bar
    others = {INTENTS_KEY, SIGNAL_HISTORY_KEY, *MARKET_KEYS}
    return {key.to_user_string() for key in selected - others}


def untagged_downstream_of_executor(location: dg.Definitions) -> set[str]:
    """dbt models fed (directly or not) by the executor's reports but not tagged journal."""
    graph = location.resolve_asset_graph()
    reports = EXECUTOR_REPORTS.resolve(graph)
    assert reports >= {dg.AssetKey(["execution", "fills"]), dg.AssetKey(["execution", "orders"])}
    fed = EXECUTOR_REPORTS.downstream().resolve(graph) & dbt_keys(graph)
    return {k.to_user_string() for k in fed} - tagged(graph, JOURNAL_TAG)


def untagged_signal_inputs(location: dg.Definitions) -> set[str]:
    """dbt models the strategy reads through the signal that neither an evaluation run
    rebuilds nor their own automation refreshes."""
    graph = location.resolve_asset_graph()
    upstream = dg.AssetSelection.assets(INTENTS_KEY).upstream().resolve(graph) & dbt_keys(graph)
    covered = tagged(graph, EVALUATION_TAG) | tagged(graph, ALT_DATA_TAG)
    return {k.to_user_string() for k in upstream} - covered


def undefined_dependencies(location: dg.Definitions) -> set[str]:
    """Keys some asset depends on that nothing in the code location defines."""
    defined = set()
    for item in location.assets or []:
        defined |= set(item.keys) if isinstance(item, dg.AssetsDefinition) else {item.key}
    graph = location.resolve_asset_graph()
    return {key.to_user_string() for key in graph.get_all_asset_keys() - defined}


@pytest.fixture(scope="module")
def location() -> dg.Definitions:
    return defs()


@pytest.fixture(scope="module")
def graph(location):
    return location.resolve_asset_graph()


def test_every_model_under_marts_journals_has_the_journal_tag(graph) -> None:
    journals = {n for n, node in models(manifest()).items() if "journals" in node["fqn"]}
    assert journals >= {"fct_trade_journal", "fct_positions", "fct_daily_pnl"}
    assert journals <= tagged(graph, JOURNAL_TAG)


def test_every_model_fed_by_the_executor_is_a_journal(location, graph) -> None:
    assert {"stg_fills", "stg_orders", "fct_trade_journal"} <= tagged(graph, JOURNAL_TAG)
    assert untagged_downstream_of_executor(location) == set()


def test_the_evaluation_job_builds_exactly_the_models_tagged_for_it(location) -> None:
    in_manifest = {n for n, node in models(manifest()).items() if EVALUATION_TAG in node["tags"]}
    assert evaluation_models(location) == in_manifest
    assert in_manifest >= SIGNAL_PATH


def test_everything_the_signal_reads_is_rebuilt_or_refreshes_itself(location) -> None:
    assert untagged_signal_inputs(location) == set()


def test_models_fed_only_by_alt_data_are_tagged_alt_data(graph) -> None:
    market_fed = dg.AssetSelection.assets(
        dg.AssetKey(["raw", "ohlcv"]), dg.AssetKey(["raw", "order_book_snapshots"])
    )
    alt_fed = dg.AssetSelection.assets(*ALT_KEYS).downstream() - market_fed.downstream()
    alt_only = alt_fed.resolve(graph) & dbt_keys(graph)
    names = {key.to_user_string() for key in alt_only}
    assert {"stg_reddit_posts", "int_sentiment_hourly", "int_onchain_daily"} <= names
    assert names == tagged(graph, ALT_DATA_TAG)


def test_models_built_by_evaluation_have_no_automation_of_their_own(graph) -> None:
    for name in tagged(graph, EVALUATION_TAG):
        node = graph.get(dg.AssetKey(name))
        assert node.automation_condition is None, name
        assert not set(AUTOMATION_TAGS) & set(node.tags), name


def test_a_journal_without_its_tag_is_caught() -> None:
    broken = location_with(without_tag("fct_positions", JOURNAL_TAG))
    assert untagged_downstream_of_executor(broken) == {"fct_positions"}


def test_a_signal_model_without_its_tag_is_caught_and_leaves_the_job() -> None:
    broken = location_with(without_tag("int_regimes", EVALUATION_TAG))
    assert untagged_signal_inputs(broken) == {"int_regimes"}
    assert "int_regimes" not in evaluation_models(broken)


def test_a_renamed_signal_model_stays_in_the_evaluation_job() -> None:
    location = location_with(renamed({"int_regimes": "int_market_states"}))
    selected = evaluation_models(location)
    assert "int_market_states" in selected and "int_regimes" not in selected
    assert untagged_signal_inputs(location) == set()
    assert undefined_dependencies(location) == set()


def test_every_dependency_is_defined(location) -> None:
    assert undefined_dependencies(location) == set()


def test_renaming_a_model_python_assets_read_by_key_is_caught() -> None:
    # research/candles and the daily report depend on these models by asset key
    location = location_with(renamed({"stg_ohlcv": "stg_candles", "fct_daily_pnl": "fct_pnl"}))
    assert undefined_dependencies(location) == {"stg_ohlcv", "fct_daily_pnl"}


@pytest.mark.parametrize(
    "tags",
    [[JOURNAL_TAG, ALT_DATA_TAG], [ALT_DATA_TAG, EVALUATION_TAG, JOURNAL_TAG]],
)
def test_two_automation_tags_on_one_model_are_refused(tags) -> None:
    props = {"resource_type": "model", "name": "fct_confused", "tags": tags}
    with pytest.raises(ValueError, match=r"fct_confused.*at most one of"):
        TRANSLATOR.get_automation_condition(props)
