"""Declarative automation: journals follow the executor's reports, not every candle; social
models follow their data. Conditions come from dbt tags, so the same behaviour holds when the
models are renamed."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from tests.dbt_locations import location_with, renamed
from trading_core.timeframes import utc_now
from trading_pipelines.dbt import (
    ALT_DATA_CONDITION,
    ALT_DATA_TAG,
    JOURNAL_CONDITION,
    JOURNAL_TAG,
    TRANSLATOR,
)
from trading_pipelines.definitions import defs as code_location

JOURNALS = ["stg_fills", "fct_trade_journal", "fct_positions", "fct_equity_curve", "fct_daily_pnl"]
SOCIAL = ["stg_reddit_posts", "int_sentiment_hourly"]
RENAMES = {
    "stg_ohlcv": "stg_candles",
    "stg_fills": "stg_executions",
    "fct_trade_journal": "fct_book_of_trades",
    "stg_reddit_posts": "stg_subreddit_posts",
    "int_sentiment_hourly": "int_mood_hourly",
}


@pytest.fixture(scope="module", params=["as named", "renamed"])
def location(request) -> tuple[dg.Definitions, dict[str, str]]:
    """The code location and how its models are called in it."""
    if request.param == "as named":
        return code_location(), {}
    return location_with(renamed(RENAMES)), RENAMES


def report(instance: dg.DagsterInstance, *keys: list[str], partition: str | None = None) -> None:
    for key in keys:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=key, partition=partition)
        )


def requested(result) -> set[str]:
    return {r.key.to_user_string() for r in result.results if r.true_subset.size}


def test_journals_refresh_on_fills_and_not_on_candles_or_intents(location) -> None:
    defs, names = location
    journals = {names.get(n, n) for n in JOURNALS}
    with dg.instance_for_test() as instance:
        every = [
            node.key.path
            for node in defs.resolve_asset_graph().asset_nodes
            if node.is_materializable or node.is_external
        ]
        report(instance, *every)  # a bootstrapped system: everything exists
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        candles = names.get("stg_ohlcv", "stg_ohlcv")
        report(instance, ["raw", "ohlcv"], [candles], ["strategy", "order_intents"])
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert not requested(tick) & journals
        report(instance, ["execution", "fills"])
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert journals <= requested(tick)


def test_sentiment_refreshes_when_social_data_lands(location) -> None:
    defs, names = location
    with dg.instance_for_test() as instance:
        every = [node.key.path for node in defs.resolve_asset_graph().asset_nodes]
        report(instance, *every)
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        today = utc_now().date().isoformat()
        report(instance, ["raw", "reddit_posts"], partition=today)
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert {names.get(n, n) for n in SOCIAL} <= requested(tick)
        assert names.get("fct_trade_journal", "fct_trade_journal") not in requested(tick)


def test_a_dbt_model_is_automated_exactly_when_its_tags_say_so(location) -> None:
    defs, names = location
    graph = defs.resolve_asset_graph()
    conditions = {JOURNAL_TAG: JOURNAL_CONDITION, ALT_DATA_TAG: ALT_DATA_CONDITION}
    automated = set()
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        if "dbt" not in node.kinds:
            continue
        expected = [conditions[tag] for tag in conditions if tag in node.tags]
        assert [node.automation_condition] == (expected or [None]), key.to_user_string()
        automated |= {key.to_user_string()} if expected else set()
    assert {names.get(n, n) for n in JOURNALS + SOCIAL} <= automated
    assert not set(names) & {k.to_user_string() for k in graph.materializable_asset_keys}


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ([JOURNAL_TAG], JOURNAL_CONDITION),
        (["evaluation", ALT_DATA_TAG], ALT_DATA_CONDITION),
        (["evaluation"], None),
        ([], None),
        (["Journal", "journals", "alt-data"], None),  # tags are exact, not fuzzy
    ],
)
def test_the_condition_depends_on_tags_not_on_name_or_folder(tags, expected) -> None:
    for name, fqn in [
        ("fct_trade_journal", ["trading_pipelines", "marts", "journals", "fct_trade_journal"]),
        ("anything", ["trading_pipelines", "elsewhere", "anything"]),
    ]:
        props = {"resource_type": "model", "name": name, "fqn": fqn, "tags": tags}
        assert TRANSLATOR.get_automation_condition(props) == expected


def test_the_cockpit_snapshot_follows_signals_on_a_cron_not_every_bar() -> None:
    """After each 5-minute cron tick the first fct_signals refresh asks for one snapshot run;
    later refreshes before the next tick ask for none (an eager snapshot would queue one run
    per 1m bar)."""
    from assets.cockpit_snapshot import SNAPSHOT_KEY

    defs = code_location()
    snapshot = SNAPSHOT_KEY.to_user_string()
    start = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        report(instance, *[node.key.path for node in defs.resolve_asset_graph().asset_nodes])
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=start
        )
        asked = []
        for minute in range(1, 8):
            report(instance, ["fct_signals"])
            tick = dg.evaluate_automation_conditions(
                defs=defs,
                instance=instance,
                cursor=tick.cursor,
                evaluation_time=start + timedelta(minutes=minute),
            )
            asked.append(snapshot in requested(tick))
        # the tick at 12:05: the refresh of 12:05:30 asks, those before and after it do not
        assert [m for m, yes in zip(range(1, 8), asked, strict=True) if yes] == [5]
