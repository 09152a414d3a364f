"""What research computes: the run configuration of the research assets, and their results
from the candle snapshot into research.duckdb (``trading_pipelines.resources.research``).

Every row is stamped with what produced it; every result states its window, fees and fill
conventions. The research code (numba kernels, matplotlib) is imported inside the functions:
every Dagster run loads this code location, and only research runs need it.
"""

import itertools
import json
from pathlib import Path
from typing import Self

import dagster as dg
import pandas as pd

from trading_core.timeframes import utc_now
from trading_pipelines.resources.research import ResearchWarehouse, save_table
from trading_pipelines.resources.strategy import StrategyResource


class ResearchConfig(dg.Config):
    """What to research. Empty strategy/params/timeframe: the live strategy's (configuration
    `strategy`). Conventions default to vectorbt's (fill at the signal close, 0.1 % fee per
    side, no slippage)."""

    strategy: str = ""
    params: dict[str, float] = {}
    timeframe: str = ""
    symbols: list[str] = []  # empty: every symbol in the warehouse at that timeframe
    # Sweep / walk-forward grid: parameter -> values (their cartesian product). Empty: the
    # 2,400-scenario MACD benchmark grid (macd only).
    grid: dict[str, list[float]] = {}
    fee: float = 0.001
    fill: str = "close"
    slippage_bps: float = 0.0
    initial_cash: float = 10_000.0

    def resolved(self, live: StrategyResource) -> Self:
        """This configuration with the live strategy filling what is left empty."""
        if self.strategy:
            return self.model_copy(update={"timeframe": self.timeframe or live.timeframe})
        return self.model_copy(
            update={
                "strategy": live.name,
                "params": self.params or dict(live.params),
                "timeframe": self.timeframe or live.timeframe,
            }
        )

    def param_grid(self) -> pd.DataFrame:
        if self.grid:
            names = sorted(self.grid)
            combos = itertools.product(*(self.grid[n] for n in names))
            return pd.DataFrame(list(combos), columns=names)
        if self.strategy != "macd":
            raise dg.Failure(
                f"research grid is empty: set `grid` (parameter -> values) for strategy "
                f"{self.strategy!r}; only macd has a default grid"
            )
        from trading_core.backtest.sweep import macd_grid

        return macd_grid()

    def backtest_config(self):
        from trading_core.backtest import BacktestConfig

        return BacktestConfig(
            fee=self.fee,
            fill=self.fill,  # type: ignore[arg-type]
            slippage_bps=self.slippage_bps,
            initial_cash=self.initial_cash,
        )


class WalkForwardRunConfig(ResearchConfig):
    in_sample_bars: int = 600
    out_of_sample_bars: int = 200
    mode: str = "rolling"
    min_trades: int = 3


def output_dir(reports: Path) -> Path:
    folder = reports / "research"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def conventions_text(cfg: ResearchConfig) -> str:
    return (
        f"fill at {'the signal bar close' if cfg.fill == 'close' else 'the next bar open'}, "
        f"fee {cfg.fee:.4%} per side on traded value, slippage {cfg.slippage_bps} bps, "
        "long only, all-in/all-out, an open position valued at the last close"
    )


def stamped(
    frame: pd.DataFrame, config: ResearchConfig, context: dg.AssetExecutionContext
) -> pd.DataFrame:
    """Every research row says what produced it: strategy, parameters, conventions, run."""
    return frame.assign(
        strategy=config.strategy,
        params=json.dumps(config.params, sort_keys=True),
        conventions=conventions_text(config),
        run_id=context.run.run_id,
        created_at=utc_now(),
    )


def markdown(frame: pd.DataFrame, limit: int = 20) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.head(limit).to_markdown(index=False, floatfmt=".4g"))


def backtest_results(
    context: dg.AssetExecutionContext,
    config: ResearchConfig,
    store: ResearchWarehouse,
    reports: Path,
) -> dict[str, object]:
    """Multi-scope backtests of every market and timeframe; the best run's chart and Monte
    Carlo checks. Returns the asset's metadata."""
    from trading_core.backtest import run_backtest
    from trading_core.backtest.monte_carlo import monte_carlo
    from trading_core.backtest.multi_scope import multi_scope
    from trading_core.backtest.plots import equity_chart
    from trading_core.strategies import get_strategy

    with store.get_connection() as conn:
        timeframes = [config.timeframe] + [
            tf for tf in store.timeframes(conn) if tf != config.timeframe
        ]
        chosen = get_strategy(config.strategy, config.params)
        bt = config.backtest_config()
        rows = []
        best = None
        for timeframe in timeframes:
            for (exchange, symbol), bars in store.bars(conn, timeframe, config.symbols).items():
                if len(bars) <= chosen.warmup + 2:
                    continue
                middle = bars["ts"].iloc[len(bars) // 2]
                scopes = multi_scope(
                    lambda _s, _t, bars=bars: bars,
                    [symbol],
                    [timeframe],
                    {"full": (None, None), "recent_half": (middle, None)},
                    config.strategy,
                    config.params,
                    bt,
                )
                rows.append(scopes.assign(exchange=exchange))
                if timeframe != config.timeframe:
                    continue
                result = run_backtest(bars, chosen, bt)
                ret = result.metrics["total_return"]
                if best is None or ret > best[2].metrics["total_return"]:
                    best = ((exchange, symbol), bars, result)
        table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
        table = stamped(table, config, context)
        save_table(conn, "backtests", table)
    metadata: dict[str, object] = {
        "strategy": f"{config.strategy} {json.dumps(config.params, sort_keys=True)}",
        "timeframes": ", ".join(timeframes),
        "scopes": len(table),
        "conventions": conventions_text(config),
        "results": markdown(table.drop(columns=["conventions", "run_id"], errors="ignore")),
    }
    if best is not None:
        (exchange, symbol), bars, result = best
        chart = equity_chart(
            result.equity,
            output_dir(reports) / "backtest_equity.png",
            benchmark=bars.set_index("ts")["close"],
            title=f"{config.strategy} on {exchange} {symbol} {config.timeframe}",
        )
        metadata["best_market"] = f"{exchange} {symbol}"
        metadata["best_report"] = dg.MetadataValue.md(f"```\n{result.describe()}\n```")
        metadata["equity_png"] = dg.MetadataValue.path(str(chart))
        trades = result.trades
        if len(trades):
            shuffled = monte_carlo(trades["return"], runs=1000, seed=0, method="shuffle")
            resampled = monte_carlo(trades["return"], runs=1000, seed=0, method="bootstrap")
            metadata["monte_carlo_shuffle"] = markdown(shuffled.summary.reset_index())
            metadata["monte_carlo_bootstrap"] = markdown(resampled.summary.reset_index())
            metadata["probability_of_loss"] = float(resampled.probability_of_loss)
    return metadata


def sweep_results(
    context: dg.AssetExecutionContext,
    config: ResearchConfig,
    store: ResearchWarehouse,
    reports: Path,
) -> dict[str, object]:
    """The parameter grid on every market of the timeframe, and its heatmap."""
    from trading_core.backtest.plots import sweep_heatmap
    from trading_core.backtest.sweep import sweep_strategy

    grid = config.param_grid()
    with store.get_connection() as conn:
        markets = store.bars(conn, config.timeframe, config.symbols)
        results = [
            sweep_strategy(bars, config.strategy, grid, config.backtest_config()).assign(
                exchange=exchange, symbol=symbol
            )
            for (exchange, symbol), bars in markets.items()
            if len(bars) > 100
        ]
        table = pd.concat(results, ignore_index=True) if results else pd.DataFrame()
        table = stamped(table.assign(timeframe=config.timeframe), config, context)
        save_table(conn, "sweeps", table)
    metadata: dict[str, object] = {
        "scenarios": len(table),
        "markets": len(results),
        "conventions": conventions_text(config),
    }
    if len(table):
        best = table.sort_values("total_return", ascending=False)
        params = list(grid.columns)
        metadata["best"] = markdown(
            best[["exchange", "symbol", *params, "total_return", "sharpe", "max_drawdown",
                  "closed_trades"]],
            limit=10,
        )  # fmt: skip
        if len(params) >= 2:
            heatmap = sweep_heatmap(
                table, output_dir(reports) / "sweep_heatmap.png", x=params[0], y=params[1],
                value="total_return", agg="max",
                title=f"best total return per ({params[0]}, {params[1]}), {config.timeframe}",
            )  # fmt: skip
            metadata["heatmap_png"] = dg.MetadataValue.path(str(heatmap))
    return metadata


def walk_forward_results(
    context: dg.AssetExecutionContext, config: WalkForwardRunConfig, store: ResearchWarehouse
) -> dict[str, object]:
    """Walk-forward folds and the combined out-of-sample result per market."""
    from trading_core.backtest.result import json_safe
    from trading_core.backtest.walk_forward import WalkForwardConfig, walk_forward

    wf = WalkForwardConfig(
        in_sample_bars=config.in_sample_bars,
        out_of_sample_bars=config.out_of_sample_bars,
        mode=config.mode,  # type: ignore[arg-type]
        min_trades=config.min_trades,
    )
    grid = config.param_grid()
    folds, summaries = [], []
    with store.get_connection() as conn:
        markets = store.bars(conn, config.timeframe, config.symbols)
        for (exchange, symbol), bars in markets.items():
            if len(bars) < config.in_sample_bars + config.out_of_sample_bars:
                continue
            result = walk_forward(bars, config.strategy, grid, wf, config.backtest_config())
            folds.append(result.folds.assign(exchange=exchange, symbol=symbol))
            summaries.append(
                {"exchange": exchange, "symbol": symbol,
                 **json_safe(result.metrics)}
            )  # fmt: skip
        fold_table = pd.concat(folds, ignore_index=True) if folds else pd.DataFrame()
        summary = stamped(
            pd.DataFrame(summaries).assign(timeframe=config.timeframe), config, context
        )
        save_table(conn, "walk_forward_folds", fold_table)
        save_table(conn, "walk_forward", summary)
    return {
        "markets": len(summaries),
        "folds": len(fold_table),
        "windows": f"{config.mode}: {config.in_sample_bars} bars in sample, "
        f"{config.out_of_sample_bars} out of sample",
        "conventions": conventions_text(config),
        "out_of_sample": markdown(summary.drop(columns=["conventions", "run_id"])),
        "folds_table": markdown(fold_table, limit=30),
    }
