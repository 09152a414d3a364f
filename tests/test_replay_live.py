"""`make run` on a past replay window, with the launcher's own functions: bootstrap ingests the
days before the market clock's start (not the wall clock's last days), the Dagster webserver
serves the bootstrapped home, and the history then plays as a live market: each tick of
`live_market` ingests what closed on the market clock, `new_bar_sensor` asks for an
evaluation of the new bar, and the evaluation writes the strategy's intents for replayed bars.
Then the `live_market` schedule alone: which days a tick of the played market ingests, and
that it stops once the data has run out.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import requests
from dagster_duckdb import DuckDBResource

from assets.reports import build_daily_report_asset
from executor.ledger import Ledger
from tests.e2e.conftest import dagster_webserver
from trading_core.config import MarketConfig, StrategyConfig, get_config, get_paths
from trading_core.market.replay import ReplayMarket
from trading_core.strategies import get_strategy
from trading_core.timeframes import utc_now
from trading_pipelines import launcher
from trading_pipelines.definitions import build_definitions
from trading_pipelines.instance import prepare_dagster_home
from trading_pipelines.jobs import ingest_market_job
from trading_pipelines.partitions import daily_partitions, market_partitions
from trading_pipelines.schedules import daily_report_schedule, live_market_schedule

DAYS = 2  # bootstrap: the day in progress at the start, and the day before it
HOUR = timedelta(hours=1)
# A day of wall time per bar: the market stands (nearly) still while one step runs, and each
# step moves it on by re-anchoring TRADING_REPLAY_STARTED_AT one bar further in the past.
PACE = 86_400.0
SERIES = "binance|BTC/USDT|1h"


def entry_window(shared_data: Path) -> tuple[date, datetime]:
    """A first day and an entry bar of BTC/USDT 1h on the next day, found with the live
    strategy's own code on exactly the bars the warehouse will hold (from the first day on)."""
    source = ReplayMarket(shared_data / "market")
    cfg = StrategyConfig(timeframe="1h")
    strategy = get_strategy(cfg.name, cfg.params)
    for first in (date(2023, 6, 1) + timedelta(days=n) for n in range(60)):
        start = datetime.combine(first, datetime.min.time())
        bars = source.fetch_ohlcv("binance", "BTC/USDT", "1h", start, start + 2 * 24 * HOUR)
        bars = bars.sort_values("ts").reset_index(drop=True)
        entries = bars[strategy.signals(bars)["entry"] & (bars.index > strategy.warmup)]
        played = entries[
            (entries["ts"] >= start + 28 * HOUR) & (entries["ts"] <= start + 44 * HOUR)
        ]
        if len(played):
            return first, played["ts"].iloc[0].to_pydatetime()
    raise AssertionError("no entry in June-July 2023: the strategy or the data changed")


def play(monkeypatch: pytest.MonkeyPatch, bars: int) -> dg.Definitions:
    """The code location of a market that has played ``bars`` bars since its start."""
    anchor = utc_now() - timedelta(seconds=bars * PACE)
    monkeypatch.setenv("TRADING_REPLAY_STARTED_AT", anchor.isoformat())
    get_config.cache_clear()
    return build_definitions(get_config(), get_paths())


@pytest.mark.slow
@pytest.mark.integration
def test_make_run_bootstrap_on_a_past_replay_window_serves_the_ui_and_evaluates_bars(
    trading_home: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first, entry = entry_window(shared_data)
    as_of = entry - HOUR  # the market starts one bar before the entry bar closes
    env = {
        "TRADING_HOME": str(trading_home),
        "DAGSTER_HOME": str(trading_home / "dagster"),
        "TRADING_MARKET_SOURCE": "replay",
        "TRADING_REPLAY_DIR": str(shared_data / "market"),
        "TRADING_EXCHANGES": "binance",
        "TRADING_SYMBOLS": "BTC/USDT",
        "TRADING_TIMEFRAMES": "1h",
        "TRADING_STRATEGY_TIMEFRAME": "1h",
        "TRADING_EXECUTOR_EXCHANGE": "binance",
        "TRADING_START_DATE": first.isoformat(),
        "TRADING_MARKET_AS_OF": as_of.isoformat(),
        "TRADING_REPLAY_PACE": str(PACE),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_config.cache_clear()
    prepare_dagster_home()

    # 1. make run's bootstrap: the days before the market's start, nothing after it
    assert launcher.start_market(DAYS) == as_of
    launcher.bootstrap(DAYS)
    warehouse = str(get_paths().warehouse)
    with duckdb.connect(warehouse, read_only=True) as conn:
        oldest, newest = conn.execute("select min(ts), max(ts) from raw.ohlcv").fetchone()
    assert (oldest, newest) == (datetime.combine(first, datetime.min.time()), as_of - HOUR)
    instance = dg.DagsterInstance.get()

    # 2. the UI serves the bootstrapped home: its runs are there
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    with dagster_webserver({**process_env, **env}, tmp_path / "webserver.log") as url:
        assert requests.get(f"{url}/server_info", timeout=10).ok
        runs = requests.post(
            f"{url}/graphql",
            json={"query": "{ runsOrError { ... on Runs { results { jobName status } } } }"},
            timeout=30,
        ).json()["data"]["runsOrError"]["results"]
    assert {(r["jobName"], r["status"]) for r in runs} >= {
        ("ingest_market", "SUCCESS"),
        ("refresh_unpartitioned", "SUCCESS"),
    }

    # 3. history plays as a live market: schedule tick -> ingest -> sensor -> evaluation
    cursor = None
    evaluated = []
    for step in (1, 2, 3):
        defs = play(monkeypatch, step)
        tick = utc_now().replace(tzinfo=UTC)
        schedule = defs.get_schedule_def("live_market")
        [ingest] = schedule.evaluate_tick(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        ).run_requests
        assert ingest.tags["dagster/asset_partition_range_end"] == (
            f"{(as_of + step * HOUR).date().isoformat()}|BTC-USDT"
        )
        assert (
            defs.resolve_job_def("ingest_market")
            .execute_in_process(instance=instance, tags=ingest.tags)
            .success
        )
        sensor = defs.get_sensor_def("new_bar_sensor")
        context = dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            definitions=defs,
            resources={"strategy": defs.resources["strategy"]},
        )
        result = sensor.evaluate_tick(context)
        cursor = result.cursor
        [evaluation] = result.run_requests
        bars = evaluation.run_config["ops"]["strategy__order_intents"]["config"]["bars"]
        # the bar that closed at this step's market instant, and only it
        assert bars == [f"{SERIES}|{(as_of + (step - 1) * HOUR).isoformat()}"]
        evaluated += bars
        assert (
            defs.resolve_job_def("evaluate_strategy")
            .execute_in_process(
                instance=instance, run_config=evaluation.run_config, tags=evaluation.tags
            )
            .success
        )

    # 4. the strategy's entry on a replayed bar reached the executor's ledger
    assert f"{SERIES}|{entry.isoformat()}" in evaluated
    intents = [r.intent for r in Ledger(get_paths().ledger_url()).new_intents()]
    assert [(i.symbol, i.action, i.bar_ts) for i in intents if i.action == "open"] == [
        ("BTC/USDT", "open", entry)
    ]
    assert all(as_of <= i.bar_ts < as_of + 3 * HOUR for i in intents)
    with duckdb.connect(warehouse, read_only=True) as conn:
        [(played_until,)] = conn.execute("select max(ts) from raw.ohlcv").fetchall()
    assert played_until == as_of + 2 * HOUR  # three bars played, none beyond


def played_config(shared_data: Path, as_of: datetime, bars_ago: float) -> MarketConfig:
    """BTC and ETH 1h replayed from ``as_of``, anchored ``bars_ago`` bars of a 10 s pace ago."""
    return MarketConfig(
        source="replay",
        replay_dir=shared_data / "market",
        exchanges=["binance"],
        symbols=["BTC/USDT", "ETH/USDT"],
        timeframes=["1h"],
        start_date=date(2021, 4, 5),
        as_of=as_of,
        replay_pace_seconds=10,
        replay_started_at=utc_now() - timedelta(seconds=10 * bars_ago),
    )


def tick_of(cfg: MarketConfig, latest_bars: list[dict[str, str]]) -> dg.RunRequest | str:
    """One tick of live_market now, on an instance whose raw/ohlcv runs reported these bars."""
    schedule = live_market_schedule(ingest_market_job(market_partitions(cfg)), cfg)
    with dg.instance_for_test() as instance:
        for bars in latest_bars:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=["raw", "ohlcv"],
                    metadata={"latest_bars": dg.MetadataValue.json(bars)},
                )
            )
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=utc_now().replace(tzinfo=UTC)
        )
        data = schedule.evaluate_tick(context)
    if data.skip_message:
        return data.skip_message
    [request] = data.run_requests
    return request


def test_a_played_tick_ingests_from_the_series_furthest_behind(shared_data: Path) -> None:
    cfg = played_config(shared_data, datetime(2021, 5, 1), bars_ago=50)  # market: May 3rd
    assert live_market_schedule(ingest_market_job(market_partitions(cfg)), cfg).cron_schedule == (
        "* * * * *"
    )
    request = tick_of(
        cfg,
        [
            {
                "binance|BTC/USDT|1h": "2021-05-01T22:00:00",
                "binance|ETH/USDT|1h": "2021-05-02T23:00:00",
            },
            {"binance|ETH/USDT|1h": "2021-05-03T00:00:00", "not a series": "2021-06-01T00:00:00"},
            {"binance|BTC/USDT|1h": "not a time"},
        ],
    )
    assert isinstance(request, dg.RunRequest)
    # BTC's newest close is 2021-05-01 23:00: the run re-reads from that day, through today
    assert request.tags["dagster/asset_partition_range_start"] == "2021-05-01|BTC-USDT"
    assert request.tags["dagster/asset_partition_range_end"] == "2021-05-03|ETH-USDT"
    assert request.tags["trading/trigger"] == "live_market"


def test_a_played_tick_after_the_end_of_the_data_ingests_nothing(shared_data: Path) -> None:
    end = datetime(2023, 12, 30, 20)
    cfg = played_config(shared_data, end - 5 * HOUR, bars_ago=1_000)
    assert isinstance(tick_of(cfg, [{"binance|BTC/USDT|1h": "2023-12-30T15:00:00"}]), dg.RunRequest)
    finished = [
        {"binance|BTC/USDT|1h": "2023-12-30T18:00:00", "binance|ETH/USDT|1h": "2023-12-30T19:00:00"}
    ]
    skipped = tick_of(cfg, finished)
    assert skipped == (
        f"the replay reached the end of its data ({end}): every bar is ingested, nothing new "
        "will close"
    )


def test_the_live_feed_keeps_the_wall_clock(shared_data: Path) -> None:
    cfg = MarketConfig(timeframes=["1h"])
    schedule = live_market_schedule(ingest_market_job(market_partitions(cfg)), cfg)
    assert schedule.cron_schedule == "1 * * * *"
    request = tick_of(cfg, [{"sim|BTC/USDT|1h": "2021-05-01T22:00:00"}])  # history is ignored
    assert isinstance(request, dg.RunRequest)
    today = utc_now().date().isoformat()
    assert request.tags["dagster/asset_partition_range_end"] == f"{today}|SOL-USDT"


def report_tick(cfg: MarketConfig) -> dg.RunRequest | str:
    report = build_daily_report_asset(daily_partitions(cfg), Path("reports"))
    schedule = daily_report_schedule(report, cfg)
    defs = dg.Definitions(
        assets=[report],
        schedules=[schedule],
        resources={"warehouse": DuckDBResource(database=":memory:")},
    )
    # Resolved before the test instance exists: a repository resolved inside it keeps a
    # process-wide load context bound to that instance after it is disposed.
    repository = defs.get_repository_def()
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=utc_now().replace(tzinfo=UTC),
            repository_def=repository,
        )
        data = schedule.evaluate_tick(context)
    return data.skip_message or data.run_requests[0]


def test_the_played_market_reports_each_day_once_when_it_ends(shared_data: Path) -> None:
    # 35 market minutes played (10 s a bar): the market crossed midnight in the last minute
    crossing = played_config(shared_data, datetime(2021, 5, 1, 23, 30), bars_ago=35 / 60)
    request = report_tick(crossing)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "2021-05-01"
    later = played_config(shared_data, datetime(2021, 5, 1, 23, 30), bars_ago=20)
    assert report_tick(later) == "the market's day 2021-05-02 has not ended"
