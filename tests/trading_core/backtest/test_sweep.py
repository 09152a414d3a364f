"""The compiled sweep kernels equal the plain backtester, scenario by scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
from trading_core.backtest.sweep import (
    SWEEP_METRICS,
    macd_grid,
    sweep_macd,
    sweep_signals,
    sweep_strategy,
)
from trading_core.strategies import get_strategy


@pytest.fixture(scope="module")
def xrp_1d(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_1d.csv")


@pytest.fixture(scope="module")
def xrp_1h(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_1h.csv")


def assert_same_metrics(row: pd.Series, metrics: dict, label: str) -> None:
    for key in ("entries", "closed_trades"):
        assert row[key] == metrics[key], f"{label}: {key}"
    for key in ("total_return", "win_rate", "max_drawdown", "sharpe"):
        np.testing.assert_allclose(
            row[key], metrics[key], rtol=1e-9, atol=1e-12, err_msg=f"{label}: {key}"
        )


def test_benchmark_grid_is_2400_distinct_scenarios_inside_the_stack_space() -> None:
    grid = macd_grid()
    assert len(grid) == 2400 and not grid.duplicated().any()
    assert grid["fast"].between(2, 40).all() and grid["signal"].between(2, 20).all()
    assert (grid["slow"] > grid["fast"]).all() and (grid["slow"] <= 80).all()
    pd.testing.assert_frame_equal(grid, macd_grid())


def test_macd_kernel_equals_the_backtester_on_the_daily_series(xrp_1d: pd.DataFrame) -> None:
    grid = pd.concat(
        [
            macd_grid().iloc[::40],
            pd.DataFrame({"fast": [2, 12], "slow": [3, 26], "signal": [2, 9]}),
        ],
        ignore_index=True,
    )
    swept = sweep_macd(xrp_1d, grid, fee=0.001)
    assert list(swept.columns) == ["fast", "slow", "signal", *SWEEP_METRICS]
    for row in swept.itertuples(index=False):
        params = {"fast": row.fast, "slow": row.slow, "signal": row.signal}
        metrics = run_backtest(xrp_1d, get_strategy("macd", params), BacktestConfig()).metrics
        assert_same_metrics(pd.Series(row._asdict()), metrics, str(params))


def test_macd_kernel_equals_the_backtester_on_67200_hourly_bars(xrp_1h: pd.DataFrame) -> None:
    grid = macd_grid().iloc[[0, 777, 1500, 2399]].reset_index(drop=True)
    swept = sweep_macd(xrp_1h, grid, fee=0.001)
    for i, row in grid.iterrows():
        metrics = run_backtest(xrp_1h, get_strategy("macd", dict(row)), BacktestConfig()).metrics
        assert_same_metrics(swept.iloc[i], metrics, str(dict(row)))


def test_kernel_start_index_equals_backtesting_from_a_later_bar(xrp_1d: pd.DataFrame) -> None:
    grid = pd.DataFrame({"fast": [8, 20], "slow": [21, 50], "signal": [5, 9]})
    start = 2000
    swept = sweep_macd(xrp_1d, grid, start=start)
    for i, row in grid.iterrows():
        result = run_backtest(
            xrp_1d, get_strategy("macd", dict(row)), trade_from=xrp_1d["ts"].iloc[start]
        )
        assert result.bars == len(xrp_1d) - start
        assert_same_metrics(swept.iloc[i], result.metrics, str(dict(row)))


def test_signal_kernel_sweeps_swing_exactly(xrp_1d: pd.DataFrame) -> None:
    params = pd.DataFrame(
        {"rsi_period": [14, 7, 21, 10], "bb_period": [20, 10, 30, 15], "oversold": [30, 25, 35, 40]}
    )
    swept = sweep_strategy(xrp_1d, "swing", params, BacktestConfig(fee=0.001))
    assert list(swept.columns) == [*params.columns, *SWEEP_METRICS]
    for i, row in params.iterrows():
        metrics = run_backtest(xrp_1d, get_strategy("swing", dict(row))).metrics
        assert metrics["entries"] > 0
        assert_same_metrics(swept.iloc[i], metrics, str(dict(row)))


def test_grid_next_open_and_talib_macd_sweep_through_the_kernel_exactly(
    xrp_1d: pd.DataFrame,
) -> None:
    bars = xrp_1d.iloc[-800:]
    cases = [
        ("grid", pd.DataFrame({"lookback": [50, 100], "levels": [5, 10]}), BacktestConfig()),
        ("macd", pd.DataFrame({"fast": [12], "slow": [26]}), BacktestConfig(fill="next_open")),
        ("macd", pd.DataFrame({"convention": ["talib"]}), BacktestConfig()),
    ]
    for name, params, config in cases:
        swept = sweep_strategy(bars, name, params, config)
        for i, row in params.iterrows():
            metrics = run_backtest(bars, get_strategy(name, dict(row)), config).metrics
            assert_same_metrics(swept.iloc[i], metrics, f"{name} {dict(row)}")


def test_sweep_reports_progress_per_row(xrp_1d: pd.DataFrame) -> None:
    seen: list[int] = []
    params = pd.DataFrame({"rsi_period": range(5, 15)})
    sweep_strategy(xrp_1d, "swing", params, progress=seen.append, chunk=4)
    assert seen == [4, 4, 2]
    seen.clear()
    sweep_strategy(xrp_1d, "macd", macd_grid().iloc[:7], progress=seen.append)
    assert sum(seen) == 7


def test_signal_kernel_checks_shapes() -> None:
    with pytest.raises(ValueError, match=r"must both be \(scenarios, 5 bars\)"):
        sweep_signals(np.ones(5), np.zeros((2, 4), bool), np.zeros((2, 4), bool))
