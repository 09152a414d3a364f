"""Sortino and Calmar from the kernel, the breakdown, the block bootstrap and gap modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
from trading_core.backtest.sweep import sweep_strategy
from trading_core.research.bar_bootstrap import block_bootstrap, default_block
from trading_core.research.breakdown import breakdown, breakdown_records, format_breakdown
from trading_core.research.gaps import apply_gap_mode, gap_positions, gap_warning
from trading_core.research.objectives import objective_column, objective_value
from trading_core.strategies import get_strategy


@pytest.fixture(scope="module")
def xrp_4h(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_4h.csv").iloc[-2500:]


@pytest.mark.parametrize(
    "config",
    [BacktestConfig(), BacktestConfig(fill="next_open", stop_loss_pct=0.03, take_profit_pct=0.06)],
)
def test_kernel_sortino_and_calmar_equal_the_backtester(
    xrp_4h: pd.DataFrame, config: BacktestConfig
) -> None:
    grid = pd.DataFrame({"fast": [12, 5, 30], "slow": [26, 35, 31], "signal": [9, 5, 2]})
    swept = sweep_strategy(xrp_4h, "macd", grid, config)
    for i, row in grid.iterrows():
        metrics = run_backtest(xrp_4h, get_strategy("macd", dict(row)), config).metrics
        for key in ("sortino", "calmar"):
            np.testing.assert_allclose(swept.loc[i, key], metrics[key], rtol=1e-9, err_msg=key)


def test_objectives_read_sweep_rows() -> None:
    table = pd.DataFrame(
        {"total_return": [0.5, 0.2], "max_drawdown": [-0.25, 0.0], "sharpe": [1.0, 2.0]}
    )
    assert objective_value(table.iloc[0], "profit_over_drawdown") == 2.0
    assert np.isnan(objective_value(table.iloc[1], "profit_over_drawdown"))
    assert objective_column(table, "profit_over_drawdown").iloc[0] == 2.0
    with pytest.raises(ValueError, match="allowed"):
        objective_value(table.iloc[0], "profit")


def test_breakdown_compounds_to_the_total_return(xrp_4h: pd.DataFrame) -> None:
    result = run_backtest(xrp_4h, get_strategy("macd", {}), BacktestConfig())
    for period in ("day", "week", "month"):
        table = breakdown(result.equity, result.trades, 10_000.0, period)
        growth = float(np.prod(1.0 + table["return"].to_numpy()) - 1.0)
        assert growth == pytest.approx(result.metrics["total_return"], rel=1e-9)
        assert table["trades"].sum() == result.metrics["closed_trades"]
        assert (table["wins"] + table["draws"] + table["losses"] == table["trades"]).all()
        assert table["pnl"].sum() == pytest.approx(result.trades["pnl"].sum())
    weeks = breakdown(result.equity, result.trades, 10_000.0, "week")
    assert (pd.DatetimeIndex(weeks["period"]).weekday == 0).all()
    months = breakdown(result.equity, result.trades, 10_000.0, "month")
    assert (pd.DatetimeIndex(months["period"]).day == 1).all()
    assert breakdown_records(months, "month")[0]["period"].endswith("-01")
    assert "Breakdown by month" in format_breakdown(months, "month")
    with pytest.raises(ValueError, match="allowed"):
        breakdown(result.equity, result.trades, 10_000.0, "year")


def test_block_bootstrap_is_seeded_and_a_full_block_is_the_observed_path() -> None:
    r = np.random.default_rng(0).normal(0.0005, 0.01, 500)
    one = block_bootstrap(r, runs=200, block=20, seed=4)
    pd.testing.assert_frame_equal(one.runs, block_bootstrap(r, runs=200, block=20, seed=4).runs)
    assert (one.runs["max_drawdown"] <= 0).all() and one.block == 20
    whole = block_bootstrap(r, runs=5, block=500)
    np.testing.assert_allclose(whole.runs["final_equity"], whole.observed["final_equity"])
    np.testing.assert_allclose(whole.runs["max_drawdown"], whole.observed["max_drawdown"])
    equity = np.cumprod(1 + r)
    peak = np.maximum(np.maximum.accumulate(equity), 1.0)
    assert whole.observed["max_drawdown"] == pytest.approx((equity / peak - 1).min())
    assert default_block(70_000) == 42 and default_block(3) == 2


@pytest.mark.parametrize(
    ("returns", "kwargs", "message"),
    [
        (np.array([0.1]), {}, "2 bars"),
        (np.array([0.1, np.nan]), {}, "finite"),
        (np.array([0.1, -1.5]), {}, "> -1"),
        (np.zeros(10), {"runs": 0}, "runs"),
        (np.zeros(10), {"block": 11}, "block"),
        (np.zeros(10), {"block": True}, "block"),
    ],
)
def test_block_bootstrap_rejects_hostile_input(
    returns: np.ndarray, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        block_bootstrap(returns, **kwargs)


def test_gap_modes_on_a_real_series(xrp_4h: pd.DataFrame) -> None:
    kept, report = apply_gap_mode(xrp_4h.reset_index(drop=True), "bridge")
    assert len(kept) == len(xrp_4h) and report["gap_mode"] == "bridge"
    ts = pd.Series(pd.date_range("2024-01-01", periods=12, freq="h"))
    bars = pd.DataFrame({"ts": ts.drop([3, 4, 9]).reset_index(drop=True)})
    assert list(gap_positions(bars["ts"])) == [3, 7]
    kept, report = apply_gap_mode(bars, "split")
    assert report["gaps"] == 2 and report["missing_candles"] == 3
    assert report["largest_gap_candles"] == 2 and report["segments"] == 3
    assert len(kept) == 4 and kept["ts"].iloc[0] == pd.Timestamp("2024-01-01 05:00")
    assert "kept the longest" in (gap_warning(report) or "")
    assert gap_warning(apply_gap_mode(bars.iloc[:3], "split")[1]) is None
    with pytest.raises(ValueError, match="allowed"):
        apply_gap_mode(bars, "fill")
