"""The new-bar sensor: one evaluation run per new closed bar, never twice for a bar."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from sensors.new_bars import build_new_bar_sensor
from trading_pipelines.definitions import defs
from trading_pipelines.jobs import evaluate_strategy_job
from trading_pipelines.resources.strategy import StrategyResource

OHLCV = dg.AssetKey(["raw", "ohlcv"])


@pytest.fixture
def strategy() -> StrategyResource:
    return StrategyResource(
        name="macd", timeframe="1m", params={}, lookback_bars=300, position_fraction=0.2,
        stop_loss_pct=0.02, take_profit_pct=0.04, trailing_stop_pct=None,
        quote_currency="USDT", starting_cash=500.0,
    )  # fmt: skip


def report(instance: dg.DagsterInstance, latest: dict[str, str]) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=OHLCV, metadata={"latest_bars": dg.MetadataValue.json(latest)}
        )
    )


def tick(instance, strategy, cursor=None):
    sensor = build_new_bar_sensor(evaluate_strategy_job)
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"strategy": strategy}
    )
    result = sensor.evaluate_tick(context)
    return result, context.cursor


def test_a_new_bar_launches_one_evaluation_of_that_bar(strategy) -> None:
    with dg.instance_for_test() as instance:
        report(instance, {"sim|BTC/USDT|1m": "2026-01-01T10:05:00", "sim|BTC/USDT|1h": "x"})
        result, cursor = tick(instance, strategy)
        [request] = result.run_requests
        bars = request.run_config["ops"]["strategy__order_intents"]["config"]["bars"]
        assert bars == ["sim|BTC/USDT|1m|2026-01-01T10:05:00"]
        assert request.run_key == "evaluate:sim|BTC/USDT|1m|2026-01-01T10:05:00"
        # the same bar reported again (a re-run of the partition) is not evaluated again
        report(instance, {"sim|BTC/USDT|1m": "2026-01-01T10:05:00"})
        result, cursor = tick(instance, strategy, cursor)
        assert not result.run_requests
        assert json.loads(cursor)["evaluated"]["sim|BTC/USDT|1m"] == "2026-01-01T10:05:00"


def test_only_the_newest_bar_of_each_series_is_evaluated(strategy) -> None:
    with dg.instance_for_test() as instance:
        report(instance, {"sim|BTC/USDT|1m": "2026-01-01T10:05:00"})
        _, cursor = tick(instance, strategy)
        report(instance, {"sim|BTC/USDT|1m": "2026-01-01T10:06:00"})
        report(instance, {"sim|BTC/USDT|1m": "2026-01-01T10:07:00",
                          "sim|ETH/USDT|1m": "2026-01-01T10:07:00"})  # fmt: skip
        # a backfill of an older day reports older bars: never re-evaluated
        report(instance, {"sim|BTC/USDT|1m": "2025-12-30T23:59:00"})
        result, cursor = tick(instance, strategy, cursor)
        [request] = result.run_requests
        assert request.run_config["ops"]["strategy__order_intents"]["config"]["bars"] == [
            "sim|BTC/USDT|1m|2026-01-01T10:07:00",
            "sim|ETH/USDT|1m|2026-01-01T10:07:00",
        ]


def test_bars_of_other_timeframes_do_not_trigger(strategy) -> None:
    with dg.instance_for_test() as instance:
        report(instance, {"sim|BTC/USDT|1h": "2026-01-01T10:00:00"})
        result, _ = tick(instance, strategy)
        assert not result.run_requests
        assert "no new 1m bar" in result.skip_message


def test_entries_that_are_not_bars_are_skipped_not_fatal(strategy) -> None:
    with dg.instance_for_test() as instance:
        report(instance, {"BTC/USDT|1m": "2026-01-01T10:05:00",  # no exchange
                          "sim|BTC/USDT|x|1m": "2026-01-01T10:05:00",  # an extra part
                          "sim|ETH/USDT|1m": "not a time",
                          "sim|BTC/USDT|1m": "2026-01-01T10:05:00"})  # fmt: skip
        result, _ = tick(instance, strategy)
        [request] = result.run_requests
        assert request.run_key == "evaluate:sim|BTC/USDT|1m|2026-01-01T10:05:00"


def test_the_run_config_fits_the_evaluation_job(strategy) -> None:
    job = defs().resolve_job_def(evaluate_strategy_job.name)
    with dg.instance_for_test() as instance:
        report(instance, {"sim|BTC/USDT|1m": "2026-01-01T10:05:00"})
        result, _ = tick(instance, strategy)
        [request] = result.run_requests
        assert dg.validate_run_config(job, request.run_config)
