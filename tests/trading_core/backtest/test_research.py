"""Walk-forward, optuna search, Monte Carlo, heatmaps and multi-scope runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
from trading_core.backtest.monte_carlo import monte_carlo
from trading_core.backtest.multi_scope import csv_loader, multi_scope
from trading_core.backtest.optimise import OptimiseConfig, optimise
from trading_core.backtest.plots import equity_chart, sweep_heatmap
from trading_core.backtest.sweep import macd_grid, sweep_macd
from trading_core.backtest.walk_forward import WalkForwardConfig, fold_windows, walk_forward
from trading_core.strategies import get_strategy

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def xrp_1d(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_1d.csv")


def test_fold_windows_rolling_and_expanding() -> None:
    rolling = fold_windows(100, 40, 25, "rolling")
    assert [(f.is_start, f.is_end, f.oos_end) for f in rolling] == [
        (0, 40, 65),
        (25, 65, 90),
        (50, 90, 100),
    ]
    expanding = fold_windows(100, 40, 25, "expanding")
    assert [(f.is_start, f.is_end) for f in expanding] == [(0, 40), (0, 65), (0, 90)]
    with pytest.raises(ValueError, match="cannot hold 100 in-sample bars"):
        fold_windows(100, 100, 10)


@pytest.mark.parametrize("mode", ["rolling", "expanding"])
def test_walk_forward_trades_the_in_sample_winner_out_of_sample(
    xrp_1d: pd.DataFrame, mode: str
) -> None:
    grid = macd_grid().iloc[::60].reset_index(drop=True)
    wf = WalkForwardConfig(
        in_sample_bars=730, out_of_sample_bars=365, mode=mode, min_trades=3, history_bars=200
    )
    result = walk_forward(xrp_1d, "macd", grid, wf)
    folds = result.folds
    assert len(folds) == 6
    assert (folds["oos_start"] > folds["is_end"]).all()  # out-of-sample follows in-sample
    # The winner of fold 0 is the best eligible row of an independent sweep of its window.
    first = sweep_macd(xrp_1d.iloc[:730], grid)
    eligible = first[first["entries"] >= 3]
    best = eligible.loc[eligible["sharpe"].idxmax()]
    assert (
        folds.loc[0, ["fast", "slow", "signal"]].tolist()
        == best[["fast", "slow", "signal"]].tolist()
    )
    # Folds chain: the combined curve starts at the first out-of-sample bar with the cash.
    assert result.equity.index[0] == xrp_1d["ts"].iloc[730]
    assert result.equity.index.is_monotonic_increasing
    assert len(result.equity) == len(xrp_1d) - 730
    growth = np.prod(1.0 + folds["oos_total_return"].to_numpy())
    assert result.metrics["total_return"] == pytest.approx(growth - 1.0, rel=1e-9)
    assert set(result.stability.index) == {"fast", "slow", "signal"}
    assert result.stability["mode_share"].between(0, 1).all()
    text = result.describe()
    assert "out-of-sample window" in text and "Parameter stability" in text


def test_walk_forward_out_of_sample_fold_is_a_plain_backtest_with_history(
    xrp_1d: pd.DataFrame,
) -> None:
    grid = pd.DataFrame({"fast": [10], "slow": [30], "signal": [9]})
    wf = WalkForwardConfig(in_sample_bars=1000, out_of_sample_bars=500, history_bars=300)
    result = walk_forward(xrp_1d, "macd", grid, wf, BacktestConfig(fee=0.002))
    fold = run_backtest(
        xrp_1d.iloc[700:1500],
        get_strategy("macd", {"fast": 10, "slow": 30, "signal": 9}),
        BacktestConfig(fee=0.002, close_at_end=True),
        trade_from=xrp_1d["ts"].iloc[1000],
    )
    assert result.folds.loc[0, "oos_total_return"] == pytest.approx(
        fold.metrics["total_return"], rel=1e-12
    )


def test_optuna_search_is_seeded_guarded_and_stops_early(xrp_1d: pd.DataFrame) -> None:
    settings = OptimiseConfig(n_trials=60, seed=7, min_trades=8, patience=15)
    first = optimise(xrp_1d, "macd", opt=settings)
    again = optimise(xrp_1d, "macd", opt=settings)
    assert first.best_params == again.best_params
    assert first.trials["value"].equals(again.trials["value"])
    assert first.stopped_early and len(first.trials) < 60
    complete = first.trials[first.trials["state"] == "COMPLETE"]
    assert (complete["user_attrs_entries"] >= 8).all()
    assert (first.trials["params_slow"] > first.trials["params_fast"]).all()
    best = first.best_params
    assert best is not None
    check = sweep_macd(xrp_1d, pd.DataFrame([best]))
    assert check.loc[0, "sharpe"] == pytest.approx(first.best_value, rel=1e-12)


def test_optuna_needs_a_space_for_other_strategies(xrp_1d: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="give a search space for strategy 'composite'"):
        optimise(xrp_1d, "composite")


def test_optuna_searches_swing_and_grid_in_their_default_spaces(xrp_1d: pd.DataFrame) -> None:
    settings = OptimiseConfig(n_trials=8, min_trades=1, patience=8)
    for strategy in ("swing", "grid"):
        result = optimise(xrp_1d, strategy, opt=settings)
        assert result.counts["trials"] == 8, strategy
    swing = optimise(xrp_1d, "swing", opt=settings).trials
    assert (swing["params_overbought"] > swing["params_oversold"]).all()


def test_monte_carlo_shuffle_keeps_final_equity_and_spreads_drawdown() -> None:
    returns = np.array([0.1, -0.05, 0.2, -0.1, 0.05, -0.02, 0.08])
    shuffled = monte_carlo(returns, runs=500, seed=1, method="shuffle")
    np.testing.assert_allclose(shuffled.runs["final_equity"], np.prod(1 + returns))
    assert shuffled.runs["max_drawdown"].nunique() > 5
    assert shuffled.observed["max_drawdown"] == pytest.approx(-0.1)
    boot = monte_carlo(returns, runs=500, seed=1)
    assert boot.runs["final_equity"].std() > 0
    assert 0 < boot.probability_of_loss < 1
    assert boot.summary.loc["final_equity", "p5"] < boot.summary.loc["final_equity", "p95"]
    pd.testing.assert_frame_equal(boot.runs, monte_carlo(returns, runs=500, seed=1).runs)
    with pytest.raises(ValueError, match="at least one closed trade"):
        monte_carlo(np.array([]))


def test_heatmap_and_equity_chart_are_pngs(xrp_1d: pd.DataFrame, tmp_path: Path) -> None:
    results = sweep_macd(xrp_1d, macd_grid().iloc[::7])
    heatmap = sweep_heatmap(results, tmp_path / "out" / "heatmap.png")
    assert heatmap.read_bytes()[:8] == PNG_MAGIC
    result = run_backtest(xrp_1d, get_strategy("macd"))
    chart = equity_chart(result.equity, tmp_path / "equity.png", xrp_1d.set_index("ts")["close"])
    assert chart.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="lack column 'nope'"):
        sweep_heatmap(results, tmp_path / "x.png", value="nope")


def test_multi_scope_builds_one_table_and_reports_missing_scopes(shared_data: Path) -> None:
    table = multi_scope(
        csv_loader(shared_data / "market"),
        symbols=["XRP/USDT", "DOGE/USDT"],
        timeframes=["1d", "4h"],
        windows={"2024": ("2024-01-01", "2024-12-31 23:59"), "2025H2": ("2025-07-01", None)},
        strategy="macd",
        params={"fast": 12, "slow": 26, "signal": 9},
    )
    assert len(table) == 8
    ok = table[table["status"] == "ok"]
    assert len(ok) == 4 and set(ok["symbol"]) == {"XRP/USDT"}
    assert table[table["symbol"] == "DOGE/USDT"]["status"].str.contains("no data file").all()
    row = ok[(ok["timeframe"] == "1d") & (ok["window"] == "2024")].iloc[0]
    assert (row["start"], row["end"], row["bars"]) == (
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-12-31"),
        366,
    )
