"""The one compiled kernel equals the reference backtester for every rule, every scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest import BacktestConfig, DataError, read_ohlcv_csv, run_backtest
from trading_core.backtest.sweep import SWEEP_METRICS, macd_grid, sweep_strategy
from trading_core.backtest.sweep_arrays import checked_levels
from trading_core.quality.spike_policy import SpikePolicy
from trading_core.strategies import get_strategy

CONFIGS: dict[str, BacktestConfig] = {
    "close": BacktestConfig(),
    "close_sl_tp": BacktestConfig(stop_loss_pct=0.03, take_profit_pct=0.06),
    "close_trail_slip": BacktestConfig(trailing_stop_pct=0.04, slippage_bps=7.5),
    "next_open_fill": BacktestConfig(
        fill="next_open", stop_loss_pct=0.02, take_profit_pct=0.05, maker_fee=0.0002
    ),
    "next_open_next": BacktestConfig(
        fill="next_open", stops_from="next", stop_loss_pct=0.02, trailing_stop_pct=0.03
    ),
    "next_open_all_rules": BacktestConfig(
        fill="next_open",
        fee=0.002,
        maker_fee=0.0,
        slippage_bps=12.0,
        stop_loss_pct=0.05,
        take_profit_pct=0.04,
        trailing_stop_pct=0.025,
        close_at_end=True,
    ),
    "close_at_end": BacktestConfig(close_at_end=True, stop_loss_pct=0.01, initial_cash=123.0),
}

GRIDS: dict[str, pd.DataFrame] = {
    "macd": pd.concat(
        [macd_grid().iloc[::200], pd.DataFrame({"fast": [12], "slow": [26], "signal": [9]})],
        ignore_index=True,
    ),
    "swing": pd.DataFrame(
        {
            "rsi_period": [14, 7, 21, 10, 14],
            "bb_period": [20, 10, 30, 15, 20],
            "oversold": [30.0, 25.0, 35.0, 40.0, 35.0],
            "stop_loss_pct": [None, 0.02, None, 0.04, 0.01],
            "take_profit_pct": [None, None, 0.05, 0.08, None],
        }
    ),
    "grid": pd.DataFrame(
        {
            "lookback": [50, 100, 30, 200],
            "levels": [5, 10, 4, 20],
            "order_fraction": [1.0, 0.5, 0.25, 1.0],
            "max_adx": [25.0, None, 40.0, 30.0],
        }
    ),
}


@pytest.fixture(scope="module")
def series(shared_data: Path) -> dict[str, pd.DataFrame]:
    market = shared_data / "market"
    return {
        # the last 2,000 4h candles of XRP (real gaps included) and 1,500 days of ETH
        "xrp_4h": read_ohlcv_csv(market / "binance_XRPUSDT_4h.csv").iloc[-2000:],
        "eth_1d": read_ohlcv_csv(market / "binance_ETHUSDT_1d.csv").iloc[-1500:],
        # ADAUSDT 1h around its 2025-03-02 spike, held at 15:00 and 16:00 and released by
        # the next bars (no decision there, history after); with 5 confirming bars the
        # bars decided while it was pending are computed without it (decisions.py)
        "ada_1h_spike": _around_spike(read_ohlcv_csv(market / "binance_ADAUSDT_1h.csv")),
        "ada_1h_spike_confirm5": _around_spike(
            read_ohlcv_csv(market / "binance_ADAUSDT_1h.csv", SpikePolicy(confirm_bars=5))
        ),
    }


def _around_spike(bars: pd.DataFrame) -> pd.DataFrame:
    assert "visible_from" in bars.columns  # the file's spike is held, then released
    keep = (bars["ts"] >= "2025-01-01") & (bars["ts"] < "2025-04-15")
    return bars[keep].reset_index(drop=True)


def _params(row: pd.Series) -> dict[str, object]:
    return {k: v for k, v in row.items() if not pd.isna(v)}


def assert_row_equals(row: pd.Series, metrics: dict, label: str) -> None:
    for key in ("entries", "closed_trades"):
        assert row[key] == metrics[key], f"{label}: {key} {row[key]} != {metrics[key]}"
    for key in ("total_return", "win_rate", "max_drawdown", "sharpe"):
        np.testing.assert_allclose(
            row[key], metrics[key], rtol=1e-9, atol=1e-12, err_msg=f"{label}: {key}"
        )


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("strategy", sorted(GRIDS))
def test_every_scenario_equals_the_backtester(
    series: dict[str, pd.DataFrame], strategy: str, config_name: str
) -> None:
    config, grid = CONFIGS[config_name], GRIDS[strategy]
    traded = 0
    for name, bars in series.items():
        swept = sweep_strategy(bars, strategy, grid, config)
        assert list(swept.columns) == [*grid.columns, *SWEEP_METRICS]
        for i, row in grid.iterrows():
            strat = get_strategy(strategy, _params(row))
            metrics = run_backtest(bars, strat, config, journal=False).metrics
            assert_row_equals(swept.iloc[i], metrics, f"{name} {strategy} {config_name} {i}")
            traded += metrics["entries"]
    assert traded > 0


def test_exit_rules_are_swept_as_parameter_columns(series: dict[str, pd.DataFrame]) -> None:
    bars = series["xrp_4h"]
    base = BacktestConfig(fill="next_open", stops_from="next", take_profit_pct=0.1)
    grid = pd.DataFrame(
        {
            "fast": [12, 12, 8, 8],
            "slow": [26, 26, 21, 21],
            "signal": [9, 9, 5, 5],
            "stop_loss": [0.02, np.nan, 0.05, 0.01],
            "take_profit": [np.nan, 0.03, 0.2, np.nan],
            "trailing_stop": [0.04, 0.02, np.nan, np.nan],
        }
    )
    swept = sweep_strategy(bars, "macd", grid, base)
    seen = set()
    for i, row in grid.iterrows():
        config = base.model_copy(
            update={
                "stop_loss_pct": None if np.isnan(row.stop_loss) else row.stop_loss,
                "take_profit_pct": 0.1 if np.isnan(row.take_profit) else row.take_profit,
                "trailing_stop_pct": None if np.isnan(row.trailing_stop) else row.trailing_stop,
            }
        )
        params = {"fast": int(row.fast), "slow": int(row.slow), "signal": int(row.signal)}
        metrics = run_backtest(bars, get_strategy("macd", params), config, journal=False).metrics
        assert_row_equals(swept.iloc[i], metrics, f"row {i}")
        seen.add(round(float(swept.iloc[i]["total_return"]), 12))
    assert len(seen) == 4  # the rules changed the outcome: each row is its own scenario


def test_serial_and_parallel_drivers_give_the_same_bits(series: dict[str, pd.DataFrame]) -> None:
    bars = series["xrp_4h"]
    config = CONFIGS["next_open_all_rules"]
    for strategy in ("macd", "grid"):
        serial = sweep_strategy(bars, strategy, GRIDS[strategy], config, parallel=False)
        parallel = sweep_strategy(bars, strategy, GRIDS[strategy], config, parallel=True)
        pd.testing.assert_frame_equal(serial, parallel, check_exact=True)


def test_duplicate_rows_are_kept_with_identical_results(series: dict[str, pd.DataFrame]) -> None:
    grid = pd.DataFrame({"fast": [5, 12, 5], "slow": [30, 26, 30], "signal": [4, 9, 4]})
    swept = sweep_strategy(series["eth_1d"], "macd", grid, CONFIGS["close_sl_tp"])
    assert len(swept) == 3
    pd.testing.assert_series_equal(swept.iloc[0], swept.iloc[2], check_names=False)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("stop_loss", -0.01, r"stop_loss \(row 1\): must be \(0, 1\)"),
        ("stop_loss", 0.0, r"stop_loss \(row 1\): must be \(0, 1\)"),
        ("stop_loss", 1.0, r"stop_loss \(row 1\): must be \(0, 1\)"),
        ("trailing_stop", 7.0, r"trailing_stop \(row 1\): must be \(0, 1\)"),
        ("take_profit", np.inf, r"take_profit \(row 1\): must be > 0 and finite"),
        ("take_profit", -1.0, r"take_profit \(row 1\): must be > 0 and finite"),
        ("take_profit", "ten", r"take_profit \(row 1\): must be a number, got 'ten'"),
    ],
)
def test_bad_exit_rule_values_are_errors_naming_column_and_row(
    series: dict[str, pd.DataFrame], column: str, value: object, message: str
) -> None:
    grid = pd.DataFrame({"fast": [12, 12], "slow": [26, 26], "signal": [9, 9]})
    grid[column] = pd.Series([0.05, value], dtype=object)
    with pytest.raises(ValueError, match=message):
        sweep_strategy(series["eth_1d"], "macd", grid)


@pytest.mark.parametrize(("column", "value"), [("close", np.nan), ("open", -1.0), ("low", 0.0)])
def test_bad_prices_are_errors_naming_column_and_bar(
    series: dict[str, pd.DataFrame], column: str, value: float
) -> None:
    bars = series["eth_1d"].reset_index(drop=True).copy()
    bars.loc[700, column] = value
    for strategy in ("macd", "swing"):
        with pytest.raises(DataError, match=rf"{column} \(bar 700, .*\): prices must be finite"):
            sweep_strategy(bars, strategy, GRIDS[strategy].iloc[:1])


def test_bad_strategy_levels_are_errors_naming_the_column() -> None:
    frame = pd.DataFrame(
        {
            "entry": [False, True],
            "exit": [False, False],
            "stop_loss": [np.nan, -5.0],
            "take_profit": [np.nan, np.nan],
            "limit_price": [np.nan, np.nan],
            "size_fraction": [1.0, 1.0],
        }
    )
    with pytest.raises(ValueError, match=r"stop_loss \(row 3\): an entry's level"):
        checked_levels(frame, 3)
    frame["stop_loss"] = np.nan
    frame["size_fraction"] = [1.0, np.nan]
    with pytest.raises(ValueError, match=r"size_fraction \(row 0\): must be a finite number"):
        checked_levels(frame, 0)


def test_bad_chunk_and_start_are_errors(series: dict[str, pd.DataFrame]) -> None:
    grid = GRIDS["swing"].iloc[:1]
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        sweep_strategy(series["eth_1d"], "swing", grid, chunk=0)
    with pytest.raises(ValueError, match="start must index one of the 1500 bars"):
        sweep_strategy(series["eth_1d"], "swing", grid, start=1500)
