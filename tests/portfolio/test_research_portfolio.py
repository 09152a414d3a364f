"""research/backtests runs the portfolio backtest too when the configuration lists
`strategies:`: a real Dagster run over a candle snapshot of real Binance candles
(../shared/data), whose research tables match `run_portfolio` on the same bars."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from assets.research import build_research_assets
from assets.research_portfolio import portfolio_tables, snapshot_bars
from trading_core.config import FeesConfig, Paths
from trading_core.config_portfolio import InstanceConfig, ProtocolConfig
from trading_core.market.replay import read_candle_file
from trading_core.portfolio_backtest.engine import run_portfolio
from trading_core.portfolio_backtest.report import build_report
from trading_pipelines.resources.research import ResearchWarehouse
from trading_pipelines.resources.strategy import StrategyResource

SERIES = (("BTC/USDT", "4h"), ("ETH/USDT", "4h"), ("ETH/USDT", "1h"))
FEES = FeesConfig(taker=0.001, maker=0.001, slippage_bps=5)


def instances() -> list[InstanceConfig]:
    return [
        InstanceConfig(id="btc-low", strategy="macd", exchange="sim", symbols=["BTC/USDT"],
                       timeframe="4h", risk_profile="low", allocation=0.4),
        InstanceConfig(id="eth-high", strategy="macd", params={"fast": 8, "slow": 21,
                       "signal": 5}, exchange="sim", symbols=["ETH/USDT"], timeframe="1h",
                       risk_profile="high", allocation=0.3),
        InstanceConfig(id="swing", strategy="swing", exchange="sim",
                       symbols=["BTC/USDT", "ETH/USDT"], timeframe="4h", allocation=0.3),
    ]  # fmt: skip


@pytest.fixture
def snapshot(trading_home: Path, shared_data: Path) -> Path:
    frames = []
    for symbol, tf in SERIES:
        name = f"binance_{symbol.replace('/', '')}_{tf}.csv"
        bars = read_candle_file(shared_data / "market" / name)
        bars = bars[(bars["ts"] >= "2022-01-01") & (bars["ts"] < "2022-04-01")]
        frames.append(bars.assign(exchange="binance", symbol=symbol, timeframe=tf))
    target = Paths(trading_home).lake / "research" / "candles.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_parquet(target)
    return target


def resource(listed: list[InstanceConfig] | None) -> StrategyResource:
    return StrategyResource(
        name="macd", timeframe="4h", params={"fast": 12, "slow": 26, "signal": 9},
        lookback_bars=300, position_fraction=0.2, stop_loss_pct=0.02, take_profit_pct=0.04,
        trailing_stop_pct=None, quote_currency="USDT", starting_cash=500.0,
        instances=[i.model_dump() for i in listed or []],
        protocol=ProtocolConfig().model_dump(mode="json") if listed else {},
        fees=FEES.model_dump(mode="json"),
    )  # fmt: skip


def run_backtests(trading_home: Path, strategy: StrategyResource) -> dg.ExecuteInProcessResult:
    research = build_research_assets(trading_home / "reports")
    backtests = next(a for a in research if a.key == dg.AssetKey(["research", "backtests"]))
    return dg.materialize(
        [backtests],
        resources={
            "research_warehouse": ResearchWarehouse.under(Paths(trading_home)),
            "strategy": strategy,
        },
        raise_on_error=False,
    )


def test_the_research_backtests_run_the_portfolio_as_the_cli_does(trading_home, snapshot) -> None:
    result = run_backtests(trading_home, resource(instances()))
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert sorted(metadata["portfolio_instances"].value) == ["btc-low", "eth-high", "swing"]
    store = ResearchWarehouse.under(Paths(trading_home))
    with store.get_connection() as conn:
        bars = snapshot_bars(conn, store, instances())
    direct = build_report(run_portfolio(instances(), bars, ProtocolConfig(), FEES, 500.0))
    assert metadata["portfolio"].value == direct["portfolio"]
    expected = portfolio_tables(direct)
    with duckdb.connect(str(trading_home / "research.duckdb"), read_only=True) as conn:
        trades = conn.execute("select * from research.portfolio_trades").df()
        rows = conn.execute("select * from research.portfolio_instances").df()
        events = conn.execute("select count(*) from research.portfolio_events").fetchall()
    assert len(trades) == len(direct["trades"]) > 0
    assert list(trades["entry_ts"]) == list(expected["portfolio_trades"]["entry_ts"])
    assert list(trades["pnl"]) == pytest.approx(list(expected["portfolio_trades"]["pnl"]))
    assert sorted(rows["instance"]) == ["btc-low", "eth-high", "portfolio", "swing"]
    assert events[0][0] == len(direct["events"])


def test_without_strategies_research_runs_no_portfolio(trading_home, snapshot) -> None:
    result = run_backtests(trading_home, resource(None))
    assert result.success
    [event] = result.get_asset_materialization_events()
    assert "portfolio" not in event.materialization.metadata


def test_an_instance_without_candles_fails_naming_it(trading_home, snapshot) -> None:
    missing = InstanceConfig(id="ada", strategy="macd", exchange="sim", symbols=["ADA/USDT"],
                             timeframe="1d", allocation=0.1)  # fmt: skip
    result = run_backtests(trading_home, resource([*instances()[:1], missing]))
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = str(failure.event_specific_data.error.message)
    assert "instance 'ada': no sim ADA/USDT 1d candles in the research snapshot" in message
