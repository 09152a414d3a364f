"""Declarative automation: journals follow the executor's reports, not every candle."""

import dagster as dg

from trading_core.timeframes import utc_now
from trading_pipelines.definitions import defs as code_location

JOURNALS = ["stg_fills", "fct_trade_journal", "fct_positions", "fct_equity_curve", "fct_daily_pnl"]


def report(instance: dg.DagsterInstance, *keys: list[str], partition: str | None = None) -> None:
    for key in keys:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=key, partition=partition)
        )


def requested(result) -> set[str]:
    return {r.key.to_user_string() for r in result.results if r.true_subset.size}


def test_journals_refresh_on_fills_and_not_on_candles_or_intents() -> None:
    defs = code_location()
    with dg.instance_for_test() as instance:
        every = [
            node.key.path
            for node in defs.resolve_asset_graph().asset_nodes
            if node.is_materializable or node.is_external
        ]
        report(instance, *every)  # a bootstrapped system: everything exists
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        report(instance, ["raw", "ohlcv"], ["stg_ohlcv"], ["strategy", "order_intents"])
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert not requested(tick) & set(JOURNALS)
        report(instance, ["execution", "fills"])
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert set(JOURNALS) <= requested(tick)


def test_sentiment_refreshes_when_social_data_lands() -> None:
    defs = code_location()
    with dg.instance_for_test() as instance:
        every = [node.key.path for node in defs.resolve_asset_graph().asset_nodes]
        report(instance, *every)
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        today = utc_now().date().isoformat()
        report(instance, ["raw", "reddit_posts"], partition=today)
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert {"stg_reddit_posts", "int_sentiment_hourly"} <= requested(tick)
        assert "fct_trade_journal" not in requested(tick)
