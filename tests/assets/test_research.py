"""research/*: the warehouse's bars, through a Parquet snapshot, into the same backtester the
CLI uses; results in research.duckdb."""

from datetime import date

import dagster as dg
import duckdb
import pytest

from assets.dbt_models import dbt_models
from assets.ingest.prices import build_ohlcv_asset
from assets.research import build_research_assets
from tests.assets.conftest import market_resource
from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
from trading_core.config import Paths
from trading_core.strategies import get_strategy
from trading_pipelines.dbt import dbt_resource
from trading_pipelines.partitions import market_partitions
from trading_pipelines.resources.research import ResearchWarehouse
from trading_pipelines.resources.strategy import StrategyResource

pytestmark = pytest.mark.integration

FIRST, LAST = "2024-03-01", "2024-04-19"  # 50 days of hourly XRPUSDT candles


@pytest.fixture
def strategy() -> StrategyResource:
    return StrategyResource(
        name="macd", timeframe="1h", params={"fast": 12, "slow": 26, "signal": 9},
        lookback_bars=300, position_fraction=0.2, stop_loss_pct=0.02, take_profit_pct=0.04,
        trailing_stop_pct=None, quote_currency="USDT", starting_cash=500.0,
    )  # fmt: skip


def test_research_assets_agree_with_the_backtester(
    trading_home, warehouse, shared_data, strategy
) -> None:
    market = market_resource(
        source="replay", exchanges=["binance"], symbols=["XRP/USDT"], timeframes=["1h"],
        replay_dir=str(shared_data / "market"), start_date=date(2024, 1, 1),
    )  # fmt: skip
    ohlcv = build_ohlcv_asset(market_partitions(market.market_config()))
    dbt = dbt_resource()
    ingest = dg.materialize(
        [ohlcv],
        resources={"market": market, "warehouse": warehouse},
        tags={
            "dagster/asset_partition_range_start": f"{FIRST}|XRP-USDT",
            "dagster/asset_partition_range_end": f"{LAST}|XRP-USDT",
        },
    )
    assert ingest.success  # 50 partitions, one run
    assert dg.materialize(
        [dbt_models], resources={"dbt": dbt}, selection=dg.AssetSelection.assets("stg_ohlcv")
    ).success
    research = build_research_assets(trading_home / "reports")
    result = dg.materialize(
        research,
        resources={
            "warehouse": warehouse,
            "research_warehouse": ResearchWarehouse.under(Paths(trading_home)),
            "strategy": strategy,
        },
        run_config={"ops": {"research__walk_forward": {"config": {"in_sample_bars": 500,
                                                                 "out_of_sample_bars": 150}}}},
    )  # fmt: skip
    assert result.success
    with duckdb.connect(str(trading_home / "research.duckdb"), read_only=True) as conn:
        scopes = conn.execute("select * from research.backtests").df()
        sweeps = conn.execute("select count(*) from research.sweeps").fetchall()[0][0]
        folds = conn.execute("select count(*) from research.walk_forward_folds").fetchall()[0][0]
    full = scopes[scopes["window"] == "full"].iloc[0]

    bars = read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_1h.csv")
    bars = bars[(bars["ts"] >= FIRST) & (bars["ts"] < "2024-04-20")].reset_index(drop=True)
    direct = run_backtest(bars, get_strategy("macd", strategy.params), BacktestConfig())
    assert full["total_return"] == pytest.approx(direct.metrics["total_return"], rel=1e-12)
    assert full["trade_hash"] == direct.trade_hash
    assert "fee 0.1000% per side" in full["conventions"]
    assert sweeps == 2400
    assert folds >= 2
    metadata = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert "monte_carlo_shuffle" in metadata["research/backtests"]
    assert (trading_home / "reports" / "research" / "sweep_heatmap.png").stat().st_size > 10_000
