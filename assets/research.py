"""research/candles, research/backtests, research/sweeps, research/walk_forward: thin Dagster
layers around trading_core.backtest.

Research never opens the live warehouse outside one short step: research/candles (pool
duckdb_warehouse) snapshots the clean candles of stg_ohlcv (the same bars the live strategy
sees) to Parquet; the research assets (pool duckdb_research) read that snapshot, run at a
lower CPU priority with bounded threads, and write their tables to research.duckdb
(``research.backtests`` ..., replaced by each run). PNGs go to TRADING_HOME/reports/research,
key numbers to asset metadata. Every result states its window, fees and fill conventions.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.research_portfolio import portfolio_enabled, portfolio_results
from assets.research_runs import (
    ResearchConfig,
    WalkForwardRunConfig,
    backtest_results,
    markdown,
    sweep_results,
    walk_forward_results,
)
from trading_pipelines.resources.research import CANDLES_KEY, ResearchWarehouse, export_candles
from trading_pipelines.resources.strategy import StrategyResource

# Every research asset reads the candle snapshot and writes the research warehouse: it holds
# the research file's one-writer pool, never the live warehouse's.
RESEARCH_ASSET: dict[str, Any] = {
    "deps": [CANDLES_KEY],
    "group_name": "research",
    "kinds": {"python", "duckdb"},
    "pool": "duckdb_research",
}


def build_research_assets(reports: Path) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=CANDLES_KEY,
        deps=[dg.AssetKey(["stg_ohlcv"])],
        group_name="research",
        kinds={"duckdb", "parquet"},
        pool="duckdb_warehouse",
        description=(
            "The clean candles of stg_ohlcv copied to one Parquet file in the lake: the only "
            "research step that opens the live warehouse, a short copy in its writer pool. "
            "Research reads this snapshot, so it never holds the live evaluation up."
        ),
    )
    def candles(
        warehouse: DuckDBResource, research_warehouse: ResearchWarehouse
    ) -> dg.MaterializeResult:
        target = Path(research_warehouse.snapshot)
        with warehouse.get_connection() as conn:
            series = export_candles(conn, target)
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(target)),
                "candles": int(series["bars"].sum()),
                "series": len(series),
                "newest_bar": str(series["last"].max()) if len(series) else None,
                "by_series": markdown(series, limit=50),
            }
        )

    @dg.asset(
        key=["research", "backtests"],
        **RESEARCH_ASSET,
        description=(
            "Multi-scope backtests: the strategy on every market and timeframe of the candle "
            "snapshot, over the whole history and its most recent half; Monte Carlo checks "
            "(trade shuffle: drawdown risk; bootstrap: outcome spread) of the best run. With "
            "a `strategies:` list, also the portfolio backtest of every instance (shared "
            "cash, protocol on): research.portfolio_instances / _trades / _events."
        ),
    )
    def backtests(
        context: dg.AssetExecutionContext,
        config: ResearchConfig,
        research_warehouse: ResearchWarehouse,
        strategy: StrategyResource,
    ) -> dg.MaterializeResult:
        config = config.resolved(strategy)

        def work() -> dict[str, Any]:
            metadata = backtest_results(context, config, research_warehouse, reports)
            if portfolio_enabled(strategy):  # `strategies:`: the portfolio backtest too
                metadata.update(portfolio_results(context, strategy, research_warehouse))
            return metadata

        return dg.MaterializeResult(metadata=research_warehouse.run(work))

    @dg.asset(
        key=["research", "sweeps"],
        **RESEARCH_ASSET,
        description=(
            "Parameter sweep of the strategy on every market (MACD: the 2,400-scenario "
            "benchmark grid, compiled kernel), one row per market and parameter set; "
            "heatmap of the best total return per (fast, slow)."
        ),
    )
    def sweeps(
        context: dg.AssetExecutionContext,
        config: ResearchConfig,
        research_warehouse: ResearchWarehouse,
        strategy: StrategyResource,
    ) -> dg.MaterializeResult:
        config = config.resolved(strategy)
        return dg.MaterializeResult(
            metadata=research_warehouse.run(
                lambda: sweep_results(context, config, research_warehouse, reports)
            )
        )

    @dg.asset(
        key=["research", "walk_forward"],
        **RESEARCH_ASSET,
        description=(
            "Walk-forward validation: optimise on each in-sample window with the sweep "
            "kernel, trade the chosen parameters out of sample; one combined out-of-sample "
            "result and a parameter-stability table per market."
        ),
    )
    def walk_forward_validation(
        context: dg.AssetExecutionContext,
        config: WalkForwardRunConfig,
        research_warehouse: ResearchWarehouse,
        strategy: StrategyResource,
    ) -> dg.MaterializeResult:
        config = config.resolved(strategy)
        return dg.MaterializeResult(
            metadata=research_warehouse.run(
                lambda: walk_forward_results(context, config, research_warehouse)
            )
        )

    return [candles, backtests, sweeps, walk_forward_validation]
