"""The whole loop on real components: a new bar -> the sensor launches an evaluation ->
signals (dbt) -> an intent in the ledger -> the executor process fills it and reports
execution/fills to the Dagster webserver -> automation refreshes the journals -> the fill
is in fct_trade_journal. Once on the embedded sim market, once on a replay of the real
Binance files in ../shared/data/market.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import dagster as dg
import duckdb
import pandas as pd
import pytest

from executor.ledger import Ledger
from tests.e2e.browser import browser_page, open_asset
from tests.e2e.conftest import dagster_webserver, executor_process, wait_for
from trading_core.config import get_config, get_paths, load_config
from trading_core.market.factory import make_market_source
from trading_core.strategies import get_strategy
from trading_core.timeframes import symbol_to_key, timeframe_delta, utc_now
from trading_pipelines.instance import prepare_dagster_home

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.browser]

FILLS = dg.AssetKey(["execution", "fills"])


@dataclass(frozen=True)
class Scenario:
    name: str
    env: dict[str, str]
    exchange: str
    symbol: str
    timeframe: str
    day: date
    history_days: int


def scenarios(shared_data) -> list[Scenario]:
    sim_day = utc_now().date() - timedelta(days=2)
    return [
        Scenario(
            "sim",
            {"TRADING_MARKET_SOURCE": "sim", "TRADING_EXCHANGES": "sim"},
            "sim", "BTC/USDT", "1m", sim_day, history_days=1,
        ),
        Scenario(
            "replay",
            {
                "TRADING_MARKET_SOURCE": "replay",
                "TRADING_EXCHANGES": "binance",
                "TRADING_REPLAY_DIR": str(shared_data / "market"),
                "TRADING_START_DATE": "2023-01-01",
            },
            "binance", "BTC/USDT", "1h", date(2023, 6, 14), history_days=3,
        ),
    ]  # fmt: skip


def first_entry(scenario: Scenario, env: dict[str, str]) -> datetime:
    """The first bar of the scenario's day on which the live strategy enters, found with the
    strategy code itself on exactly the bars the warehouse will hold."""
    cfg = load_config(environ=env)
    source = make_market_source(cfg.market)
    start = datetime.combine(
        scenario.day - timedelta(days=scenario.history_days), datetime.min.time()
    )
    end = datetime.combine(scenario.day + timedelta(days=1), datetime.min.time())
    bars = source.fetch_ohlcv(
        scenario.exchange, scenario.symbol, scenario.timeframe, start, end, end
    )
    bars = bars.sort_values("ts").reset_index(drop=True)
    strategy = get_strategy(cfg.strategy.name, cfg.strategy.params)
    signals = strategy.signals(bars)
    on_day = (bars["ts"] >= pd.Timestamp(scenario.day)) & signals["entry"]
    on_day &= bars.index > strategy.warmup
    assert on_day.any(), f"{scenario.name}: no entry signal on {scenario.day}"
    return bars.loc[on_day.idxmax(), "ts"].to_pydatetime()


@pytest.mark.parametrize("name", ["sim", "replay"])
def test_a_new_bar_becomes_a_fill_in_the_trade_journal(
    name, trading_home, shared_data, monkeypatch, tmp_path
) -> None:
    scenario = next(s for s in scenarios(shared_data) if s.name == name)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRADING_")},
        "TRADING_HOME": str(trading_home),
        "DAGSTER_HOME": str(trading_home / "dagster"),
        "TRADING_SYMBOLS": scenario.symbol,
        "TRADING_TIMEFRAMES": scenario.timeframe,
        "TRADING_STRATEGY_TIMEFRAME": scenario.timeframe,
        "TRADING_EXECUTOR_EXCHANGE": scenario.exchange,
        **scenario.env,
    }
    bar = first_entry(scenario, env)
    env["TRADING_MARKET_AS_OF"] = (bar + timeframe_delta(scenario.timeframe)).isoformat()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_config.cache_clear()
    prepare_dagster_home()
    from trading_pipelines.definitions import build_definitions

    defs = build_definitions(get_config(), get_paths())
    instance = dg.DagsterInstance.get()
    series = f"{scenario.exchange}|{scenario.symbol}|{scenario.timeframe}"

    with dagster_webserver(env, tmp_path / "webserver.log") as dagster_url:
        # 1. the bar arrives: ingest the scenario's days, the market seen as of the bar's close
        first = scenario.day - timedelta(days=scenario.history_days)
        key = symbol_to_key(scenario.symbol)
        ingest = defs.resolve_job_def("ingest_market").execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": f"{first.isoformat()}|{key}",
                "dagster/asset_partition_range_end": f"{scenario.day.isoformat()}|{key}",
            },
        )
        assert ingest.success
        # the rest of the warehouse exists, as after `make run`'s bootstrap (no social data)
        alt_models = [
            dg.AssetKey(name)
            for name in ("stg_reddit_posts", "stg_x_posts", "stg_news_items",
                         "int_sentiment_hourly", "stg_order_intents",
                         "stg_onchain_metrics", "int_onchain_daily")
        ]  # fmt: skip
        assert (
            defs.resolve_implicit_global_asset_job_def()
            .execute_in_process(instance=instance, asset_selection=alt_models)
            .success
        )
        automation = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        # 2. the sensor sees the new bar and asks for exactly one evaluation of it
        # (the code location's sensor: armed on the market clock, which stands at the close)
        sensor = defs.get_sensor_def("new_bar_sensor")
        context = dg.build_sensor_context(
            instance=instance, definitions=defs, resources={"strategy": defs.resources["strategy"]}
        )
        [request] = sensor.evaluate_tick(context).run_requests
        bars = request.run_config["ops"]["strategy__order_intents"]["config"]["bars"]
        assert bars == [f"{series}|{bar.isoformat()}"]
        # 3. the evaluation run: signals (dbt) -> strategy -> an intent in the ledger
        evaluation = defs.resolve_job_def("evaluate_strategy").execute_in_process(
            instance=instance, run_config=request.run_config, tags=request.tags
        )
        assert evaluation.success
        ledger = Ledger(get_paths().ledger_url())
        [intent] = [r.intent for r in ledger.new_intents()]
        assert (intent.symbol, intent.side, intent.action, intent.bar_ts) == (
            scenario.symbol, "buy", "open", bar,
        )  # fmt: skip

        # 4. the executor fills it and reports execution/fills to Dagster's REST endpoint
        executor_env = {**env, "TRADING_DAGSTER_URL": dagster_url}
        with executor_process(executor_env, tmp_path / "executor.log", "--tick-seconds", "0.2"):
            fills = wait_for(lambda: ledger.fills_since(), 60, "the executor's fill")
            wait_for(
                lambda: instance.get_latest_materialization_event(FILLS), 60,
                "the execution/fills report in Dagster",
            )  # fmt: skip
        [fill] = fills
        assert fill.intent_id == intent.intent_id and fill.side == "buy"
        reported = instance.get_latest_materialization_event(FILLS).asset_materialization
        assert reported.metadata["rows"].value >= 1

        # 5. declarative automation refreshes the journals; the fill is in the trade journal
        automation = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=automation.cursor
        )
        requested = [r.key for r in automation.results if r.true_subset.size]
        journals = ["stg_fills", "fct_trade_journal", "fct_equity_curve", "fct_positions",
                    "fct_daily_pnl"]  # fmt: skip
        assert {dg.AssetKey(name) for name in journals} <= set(requested)
        # the daemon launches a partitioned asset (reports/drift) per partition; this one
        # in-process run takes the unpartitioned ones, the journals among them
        graph = defs.resolve_asset_graph()
        unpartitioned = [k for k in requested if graph.get(k).partitions_def is None]
        refresh = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=unpartitioned
        )
        assert refresh.success
        # 6. what a person sees: the reported batch and the refreshed journal in the UI
        if scenario.name == "sim":
            with browser_page() as page:
                fills_page = open_asset(page, dagster_url, "execution/fills", tmp_path / "f.png")
                journal_page = open_asset(
                    page, dagster_url, "fct_trade_journal", tmp_path / "j.png"
                )
            assert "batch_id" in fills_page and "External Asset" in fills_page
            assert "paper" in fills_page
            assert "fct_trade_journal" in journal_page
    with duckdb.connect(str(get_paths().warehouse), read_only=True) as conn:
        journal = conn.execute(
            "select intent_id, side, quantity, price, role, reasons from journals.fct_trade_journal"
        ).df()
    assert journal["intent_id"].tolist() == [intent.intent_id]
    row = journal.iloc[0]
    assert (row["side"], row["role"]) == ("buy", "open")
    assert row["quantity"] == pytest.approx(fill.quantity)
    assert json.loads(row["reasons"])["strategy"] == get_config().strategy.name
