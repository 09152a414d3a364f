"""The new-bar sensor: one evaluation at a time for the newest closed bars, never twice for a
bar; bars that close while one is in flight fold into the next run."""

from __future__ import annotations

import json
from datetime import datetime

import dagster as dg
import pytest

from sensors.new_bars import build_new_bar_sensor
from tests.dagster_runs import add_run
from trading_core.config import MarketConfig, OperationsConfig
from trading_pipelines.definitions import defs
from trading_pipelines.in_flight import IN_FLIGHT_STATUSES
from trading_pipelines.jobs import EVALUATE_STRATEGY, evaluate_strategy_job, signal_checks_job
from trading_pipelines.partitions import market_partitions
from trading_pipelines.resources.strategy import StrategyResource

OHLCV = dg.AssetKey(["raw", "ohlcv"])
MARKET = MarketConfig(symbols=["BTC/USDT", "ETH/USDT"], timeframes=["1m", "1h"])
JOB = evaluate_strategy_job(market_partitions(MARKET))


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
    sensor = build_new_bar_sensor(JOB)
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


def test_every_instance_timeframe_is_evaluated(strategy) -> None:
    """With ``strategies:`` instances on 1m and 1h, new bars of both trigger (one run), and a
    timeframe no enabled instance trades does not."""
    instances = [
        {"id": "fast", "timeframe": "1m", "enabled": True},
        {"id": "slow", "timeframe": "1h", "enabled": True},
        {"id": "off", "timeframe": "4h", "enabled": False},
    ]
    multi = StrategyResource(**{**strategy.model_dump(), "instances": instances})
    with dg.instance_for_test() as instance:
        report(instance, {"sim|BTC/USDT|1h": "2026-01-01T10:00:00",
                          "sim|BTC/USDT|1m": "2026-01-01T10:59:00",
                          "sim|BTC/USDT|4h": "2026-01-01T08:00:00"})  # fmt: skip
        result, _ = tick(instance, multi)
        [request] = result.run_requests
        assert request.run_config["ops"]["strategy__order_intents"]["config"]["bars"] == [
            "sim|BTC/USDT|1h|2026-01-01T10:00:00",
            "sim|BTC/USDT|1m|2026-01-01T10:59:00",
        ]
        assert request.tags["trading/bar_close"] == "2026-01-01T11:00:00"


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
    job = defs().resolve_job_def(EVALUATE_STRATEGY)
    with dg.instance_for_test() as instance:
        report(instance, {"sim|BTC/USDT|1m": "2026-01-01T10:05:00"})
        result, _ = tick(instance, strategy)
        [request] = result.run_requests
        assert dg.validate_run_config(job, request.run_config)


# --------------------------------------------------------------- one evaluation in flight


def launch(instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.DagsterRun:
    """What the daemon does with a run request: a queued run with its tags."""
    tags = {**request.tags, "dagster/run_key": request.run_key}
    queued = dg.DagsterRunStatus.QUEUED
    return add_run(instance, "evaluate_strategy", queued, tags, request.run_config)


def bars_of(request: dg.RunRequest) -> list[str]:
    return request.run_config["ops"]["strategy__order_intents"]["config"]["bars"]


def minute(n: int) -> str:
    return f"2026-01-01T{10 + n // 60:02d}:{n % 60:02d}:00"


def test_many_new_bars_of_many_series_give_one_run_of_the_newest(
    strategy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sensors.new_bars.EVENTS_PER_TICK", 20)
    symbols = [f"C{i}/USDT" for i in range(6)]
    with dg.instance_for_test() as instance:
        for n in range(12):  # 12 bars of 6 series, one event per series and bar
            for symbol in symbols:
                report(instance, {f"sim|{symbol}|1m": minute(n), f"sim|{symbol}|1h": minute(0)})
        # one tick reads the whole backlog (pages of 20 events here), then asks for one run
        result, cursor = tick(instance, strategy)
        [request] = result.run_requests
        launch(instance, request)
        report(instance, {"sim|C0/USDT|1m": minute(12)})
        result, cursor = tick(instance, strategy, cursor)
        assert not result.run_requests
        assert sorted(bars_of(request)) == sorted(f"sim|{s}|1m|{minute(11)}" for s in symbols)


def test_no_second_run_while_one_is_in_flight_and_bars_fold_into_the_next(strategy) -> None:
    with dg.instance_for_test() as instance:
        report(instance, {"sim|BTC/USDT|1m": minute(0)})
        result, cursor = tick(instance, strategy)
        [first] = result.run_requests
        run = launch(instance, first)
        for n in range(1, 4):  # bars keep closing while the run is queued, then running
            if n == 2:  # dequeued
                instance.handle_run_event(
                    run.run_id,
                    dg.DagsterEvent(
                        event_type_value=dg.DagsterEventType.RUN_START.value,
                        job_name=run.job_name,
                    ),
                )
                assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
            report(instance, {"sim|BTC/USDT|1m": minute(n), "sim|ETH/USDT|1m": minute(n)})
            result, cursor = tick(instance, strategy, cursor)
            assert not result.run_requests
            assert f"evaluation {run.run_id} is in flight" in result.skip_message
        # another job's queued run does not hold the evaluation lane
        add_run(instance, "ingest_market", dg.DagsterRunStatus.QUEUED)
        instance.report_run_canceled(instance.get_run_by_id(run.run_id))
        result, cursor = tick(instance, strategy, cursor)
        [second] = result.run_requests
        # one run for the newest bar of every series that moved meanwhile
        assert bars_of(second) == [f"sim|BTC/USDT|1m|{minute(3)}", f"sim|ETH/USDT|1m|{minute(3)}"]
        assert second.run_key != first.run_key
        result, _ = tick(instance, strategy, cursor)
        assert not result.run_requests  # nothing new: nothing pending


def test_the_queue_stays_bounded_whatever_the_load(strategy) -> None:
    """A bar every tick for 60 ticks while evaluations finish only every 10th tick: never
    more than one run queued or running, and each run covers what accumulated."""
    with dg.instance_for_test() as instance:
        cursor, runs = None, []
        for n in range(60):
            report(instance, {"sim|BTC/USDT|1m": minute(n)})
            result, cursor = tick(instance, strategy, cursor)
            runs += [launch(instance, request) for request in result.run_requests]
            unfinished = instance.get_run_records(
                dg.RunsFilter(job_name="evaluate_strategy", statuses=IN_FLIGHT_STATUSES)
            )
            assert len(unfinished) <= 1
            if n % 10 == 9 and unfinished:
                instance.report_run_canceled(unfinished[0].dagster_run)
        assert len(runs) == 6  # the first bar, then one per finished run
        evaluated = [bars_of(instance.get_run_by_id(r.run_id)) for r in runs]
        assert [bars[0][-8:-3] for bars in evaluated] == [
            "10:00", "10:10", "10:20", "10:30", "10:40", "10:50",
        ]  # fmt: skip


def test_evaluation_runs_carry_their_lane_and_maximum_run_time(strategy) -> None:
    sensor = build_new_bar_sensor(JOB, OperationsConfig(max_evaluation_seconds=120))
    with dg.instance_for_test() as instance:
        report(instance, {"sim|BTC/USDT|1m": minute(0)})
        context = dg.build_sensor_context(instance=instance, resources={"strategy": strategy})
        [request] = sensor.evaluate_tick(context).run_requests
    assert request.tags["trading/lane"] == "evaluation"
    assert request.tags["dagster/max_runtime"] == "120"


@pytest.mark.parametrize(
    "latest",
    [
        dg.MetadataValue.json(["sim|BTC/USDT|1m"]),
        dg.MetadataValue.text("10:00"),
        dg.MetadataValue.int(42),
    ],
)
def test_latest_bars_that_are_not_a_mapping_are_skipped(strategy, latest) -> None:
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=OHLCV, metadata={"latest_bars": latest})
        )
        report(instance, {"sim|BTC/USDT|1m": minute(5)})
        result, _ = tick(instance, strategy)
        [request] = result.run_requests
        assert bars_of(request) == [f"sim|BTC/USDT|1m|{minute(5)}"]


# ------------------------------------------------- armed before the close, on the market clock


def armed_tick(instance, strategy, wall, cursor=None, ops=None):
    sensor = build_new_bar_sensor(JOB, ops or OperationsConfig(), MARKET, signal_checks_job)
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"strategy": strategy}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sensors.new_bars.utc_now", lambda: wall)
        result = sensor.evaluate_tick(context)
    return result, context.cursor


def at(clock_time: str) -> datetime:
    return datetime.fromisoformat(f"2026-01-01T{clock_time}")


def test_an_evaluation_is_armed_before_its_bar_closes_and_ingests_it(strategy) -> None:
    with dg.instance_for_test() as instance:
        # 10:05:50: the 10:05 bar closes at 10:06, within the 12 s lead
        result, cursor = armed_tick(instance, strategy, at("10:05:50"))
        [request] = result.run_requests
        assert request.job_name == "evaluate_strategy"
        assert bars_of(request) == [
            "sim|BTC/USDT|1m|2026-01-01T10:05:00",
            "sim|ETH/USDT|1m|2026-01-01T10:05:00",
        ]
        assert request.tags["trading/bar_close"] == "2026-01-01T10:06:00"
        assert request.tags["trading/settle_seconds"] == "0.0"  # a sim bar is final at close
        assert float(request.tags["trading/max_wait_seconds"]) == 12.0 + 30.0
        # the run ingests the bars' partitions of every symbol itself
        assert request.tags["dagster/asset_partition_range_start"] == "2026-01-01|BTC-USDT"
        assert request.tags["dagster/asset_partition_range_end"] == "2026-01-01|ETH-USDT"
        run = launch(instance, request)
        # the run's own ingest reports the bar: it is not evaluated a second time
        report(instance, {"sim|BTC/USDT|1m": minute(5), "sim|ETH/USDT|1m": minute(5)})
        instance.report_run_canceled(instance.get_run_by_id(run.run_id))
        result, cursor = armed_tick(instance, strategy, at("10:06:03"), cursor)
        assert not [r for r in result.run_requests if r.job_name == "evaluate_strategy"]
        # 10:06:40 is 20 s before the next close: not yet; 10:06:49 is
        result, cursor = armed_tick(instance, strategy, at("10:06:40"), cursor)
        assert not [r for r in result.run_requests if r.job_name == "evaluate_strategy"]
        result, cursor = armed_tick(instance, strategy, at("10:06:49"), cursor)
        [request] = result.run_requests
        assert request.tags["trading/bar_close"] == "2026-01-01T10:07:00"


@pytest.mark.parametrize(
    ("source", "configured", "expected"),
    [("sim", None, 0.0), ("replay", None, 0.0), ("ccxt", None, 1.0), ("sim", 2.5, 2.5),
     ("ccxt", 0.0, 0.0)],
)  # fmt: skip
def test_the_settle_after_a_close_is_for_exchanges_unless_configured(
    source: str, configured: float | None, expected: float
) -> None:
    assert OperationsConfig(close_settle_seconds=configured).settle_seconds(source) == expected


@pytest.mark.parametrize("bad", [-1, 61, float("nan"), "soon", [1]])
def test_a_bad_settle_names_the_field(bad: object) -> None:
    with pytest.raises(ValueError, match="close_settle_seconds"):
        OperationsConfig(close_settle_seconds=bad)


def test_a_late_sensor_evaluates_the_bar_that_closed_and_does_not_wait(strategy) -> None:
    with dg.instance_for_test() as instance:
        result, _ = armed_tick(instance, strategy, at("10:05:20"))
        [request] = result.run_requests
        assert request.tags["trading/bar_close"] == "2026-01-01T10:05:00"  # in the past
        assert bars_of(request)[0].endswith("2026-01-01T10:04:00")


def test_a_bar_at_midnight_ingests_both_days(strategy) -> None:
    with dg.instance_for_test() as instance:
        wall = datetime(2026, 1, 1, 23, 59, 55)
        [request] = armed_tick(instance, strategy, wall)[0].run_requests
        assert request.tags["trading/bar_close"] == "2026-01-02T00:00:00"
        assert request.tags["dagster/asset_partition_range_start"] == "2026-01-01|BTC-USDT"
        assert request.tags["dagster/asset_partition_range_end"] == "2026-01-02|ETH-USDT"


def test_armed_bars_fold_while_an_evaluation_is_in_flight(strategy) -> None:
    with dg.instance_for_test() as instance:
        [first] = armed_tick(instance, strategy, at("10:05:50"))[0].run_requests
        cursor = armed_tick(instance, strategy, at("10:05:50"))[1]
        run = launch(instance, first)
        for wall in ("10:06:50", "10:07:50", "10:08:50"):  # a run that takes three bars
            result, cursor = armed_tick(instance, strategy, at(wall), cursor)
            assert not result.run_requests
            assert "in flight" in result.skip_message
        instance.report_run_canceled(instance.get_run_by_id(run.run_id))
        [second] = armed_tick(instance, strategy, at("10:08:51"), cursor)[0].run_requests
        assert [bar[-8:-3] for bar in bars_of(second)] == ["10:08", "10:08"]


def test_signal_checks_run_between_evaluations_never_before_a_close(strategy) -> None:
    ops = OperationsConfig(signal_checks_every_minutes=15)
    with dg.instance_for_test() as instance:
        result, cursor = armed_tick(instance, strategy, at("10:05:50"), ops=ops)
        launch(instance, result.run_requests[0])
        finished = instance.get_run_records(dg.RunsFilter(job_name="evaluate_strategy"))
        instance.report_run_canceled(finished[0].dagster_run)
        # 10:06:40: the next arming is 8 s away: no room for a checks run
        result, cursor = armed_tick(instance, strategy, at("10:06:40"), cursor, ops)
        assert not result.run_requests
        # 10:06:05: quiet for 43 s
        result, cursor = armed_tick(instance, strategy, at("10:06:05"), cursor, ops)
        [checks] = result.run_requests
        assert checks.job_name == "signal_checks"
        assert checks.tags["trading/lane"] == "evaluation"  # never next to an evaluation
        add_run(instance, "signal_checks", dg.DagsterRunStatus.SUCCESS)
        result, _ = armed_tick(instance, strategy, at("10:06:06"), cursor, ops)
        assert not result.run_requests  # ran within the last 15 minutes
