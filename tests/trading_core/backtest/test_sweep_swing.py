"""Swing sweeps through compiled signals (``sweep_swing``): the compiled rows are the
strategy's signals, every scenario equals the reference backtester and the per-row signal
arrays bit for bit, and bad thresholds are refused as the strategy refuses them."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.trading_core.backtest.test_sweep_rules import _around_spike, assert_row_equals
from trading_core import aot
from trading_core.backtest import (
    BacktestConfig,
    read_ohlcv_csv,
    run_backtest,
    sweep,
    sweep_arrays,
    sweep_swing,
)
from trading_core.backtest.decisions import decision_signals
from trading_core.backtest.sweep_arrays import SignalSource
from trading_core.strategies import StrategyError, get_strategy

GRID = pd.DataFrame(
    {
        "rsi_period": [7, 14, 14, 21, 7, 14, 10, 14],
        "bb_period": [10, 20, 20, 30, 10, 20, 15, 20],
        "bb_std": [1.5, 2.0, 2.0, 2.5, 1.5, 2.0, 1.0, 2.0],
        "oversold": [30.0, 35.0, 40.0, 30.0, 30.0, 35.0, 45.0, 35.0],
        "overbought": [60.0, 70.0, 65.0, 80.0, 75.0, 70.0, 55.0, 70.0],
    }
)
LEVELS = ("stop_loss", "take_profit", "limit_price", "size_fraction")


@pytest.fixture(scope="module")
def xrp_1d(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_1d.csv")


@pytest.fixture(scope="module")
def ada_1h(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_ADAUSDT_1h.csv")


def _strategies(params: pd.DataFrame) -> list:
    return [get_strategy("swing", r) for r in sweep._strategy_params(params)]


def _compiled_rows(bars: pd.DataFrame, params: pd.DataFrame) -> list[tuple[np.ndarray, ...]]:
    """Each row's entries and exits as the compiled row kernels build them from the plan."""
    from trading_core.backtest.sweep_swing_kernel import entry_row, exit_row

    plan = sweep_swing.plan(bars, [s.params for s in _strategies(params)])
    close = bars["close"].to_numpy(np.float64)
    rows: list[tuple[np.ndarray, ...]] = [()] * len(params)
    for k, row in enumerate(plan.order):
        e, x = plan.entry_of[k], plan.exit_of[k]
        r, b, a = plan.entry_keys[e]
        enter = np.empty(len(bars), dtype=np.bool_)
        entry_row(close, plan.rsis[r], plan.lowers[b], plan.allowed[a], plan.entry_levels[e], enter)
        r, b = plan.exit_keys[x]
        leave = np.empty(len(bars), dtype=np.bool_)
        exit_row(close, plan.rsis[r], plan.middles[b], plan.decide, plan.exit_levels[x], leave)
        rows[row] = (enter, leave)
    return rows


def _expected_raw(bars: pd.DataFrame, params: pd.DataFrame, config: BacktestConfig) -> np.ndarray:
    """The per-row path: each row's own signal arrays through ``run_signals`` alone (with
    levels only when the row sets one, as the compiled path decides per row)."""
    source = SignalSource(bars)
    _, run_signals = sweep._drivers(1, False)
    rules = sweep._exit_rules(params, config)
    out = []
    for k, strategy in enumerate(_strategies(params)):
        arrays = source.arrays(strategy)
        levels = sweep_arrays.uses_levels(arrays)
        raw = run_signals(
            sweep._ohlc(bars),
            arrays["entry"][None, :],
            arrays["exit"][None, :],
            levels,
            *(sweep_arrays.signal_matrix([arrays], c, levels) for c in LEVELS),
            rules[k : k + 1],
            0,
            sweep._conventions(config, 365.0),
            np.zeros((1, 0, 2)),
        )
        out.append(np.asarray(raw)[0])
    return np.array(out)


def _swept_raw(bars: pd.DataFrame, params: pd.DataFrame, config: BacktestConfig) -> np.ndarray:
    return sweep_swing.swing_raw(
        bars, sweep._ohlc(bars), _strategies(params), sweep._exit_rules(params, config),
        sweep._conventions(config, 365.0), 0, False, 64, None, np.zeros((len(params), 0, 2)),
    )  # fmt: skip


def test_compiled_rows_are_the_strategys_signals_warm_up_included(xrp_1d: pd.DataFrame) -> None:
    # periods up to 500 on 2,804 bars: long NaN warm-ups compare False, as in NumPy
    params = pd.concat(
        [GRID, pd.DataFrame({"rsi_period": [500, 2], "bb_period": [2, 500], "bb_std": [0.1, 10]})],
        ignore_index=True,
    )
    for (enter, leave), strategy in zip(
        _compiled_rows(xrp_1d, params), _strategies(params), strict=True
    ):
        want = strategy.signals(xrp_1d)
        np.testing.assert_array_equal(enter, want["entry"].to_numpy(), err_msg=repr(strategy))
        np.testing.assert_array_equal(leave, want["exit"].to_numpy(), err_msg=repr(strategy))
        assert not enter[: strategy.warmup].any()
    assert sum(e.sum() for e, _ in _compiled_rows(xrp_1d, GRID)) > 0


def test_compiled_rows_are_live_decisions_around_a_held_spike(ada_1h: pd.DataFrame) -> None:
    bars = _around_spike(ada_1h)
    strategies = _strategies(GRID)
    assert sweep_swing.applies(strategies, bars)
    held = ~(bars["visible_from"] <= bars["ts"]).to_numpy()
    assert held.any()
    for (enter, leave), strategy in zip(_compiled_rows(bars, GRID), strategies, strict=True):
        want = decision_signals(strategy, bars)
        np.testing.assert_array_equal(enter, want["entry"].to_numpy())
        np.testing.assert_array_equal(leave, want["exit"].to_numpy())
        assert not (enter[held] | leave[held]).any()


def test_spikes_changing_later_decisions_keep_the_per_row_path(xrp_1d: pd.DataFrame) -> None:
    # bar 300 held until the close of bar 303: bars 301-302 decide without it (not a mask)
    bars = xrp_1d.iloc[:600].reset_index(drop=True).assign(visible_from=lambda f: f["ts"])
    bars.loc[300, "visible_from"] = bars["ts"].iloc[303]
    strategies = _strategies(GRID)
    assert not sweep_swing.applies(strategies, bars)
    assert sweep_swing.applies(strategies, bars.drop(columns="visible_from"))
    assert not sweep_swing.applies([], bars)
    assert not sweep_swing.applies([get_strategy("macd")], xrp_1d)
    swept = sweep.sweep_strategy(bars, "swing", GRID)
    for i, strategy in enumerate(strategies):
        metrics = run_backtest(bars, strategy, journal=False).metrics
        assert_row_equals(swept.iloc[i], metrics, repr(strategy))


@pytest.mark.parametrize(
    "config",
    [
        BacktestConfig(),
        BacktestConfig(stop_loss_pct=0.03, take_profit_pct=0.06),
        BacktestConfig(fill="next_open", trailing_stop_pct=0.04, slippage_bps=5.0),
    ],
)
def test_shuffled_duplicated_rows_with_tiny_caches_equal_the_per_row_path_bit_for_bit(
    xrp_1d: pd.DataFrame, config: BacktestConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = pd.concat([GRID, GRID.iloc[::-1]], ignore_index=True).sample(frac=1, random_state=3)
    rows = rows.reset_index(drop=True)
    rows["stop_loss_pct"] = [0.02 if k % 3 == 0 else None for k in range(len(rows))]
    rows["take_profit_pct"] = [0.1 if k % 4 == 1 else None for k in range(len(rows))]
    want = _expected_raw(xrp_1d, rows, config)
    got = _swept_raw(xrp_1d, rows, config)
    np.testing.assert_array_equal(got, want)
    # one cache slot and batches of one: ids collide and every row is recomputed
    monkeypatch.setattr(sweep_swing, "CACHE_BYTES", 1)
    monkeypatch.setattr(sweep_swing, "BATCH_BYTES", 1)
    np.testing.assert_array_equal(_swept_raw(xrp_1d, rows, config), want)
    assert want[:, 1].sum() > 0


def test_regime_and_timeframe_filters_equal_the_backtester(shared_data: Path) -> None:
    bars = read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_4h.csv").iloc[-1500:]
    params = pd.DataFrame(
        {
            "rsi_period": [14, 14, 7, 14],
            "oversold": [40.0, 40.0, 45.0, 40.0],
            "regime_trend": ["any", "not_trending_down", "ranging", "not_trending_down"],
            "regime_vol": ["any", "any", "high_vol", "any"],
            "mtf_timeframes": ["", "", "", "1d"],
        }
    )
    config = BacktestConfig(warmup="all")
    swept = sweep.sweep_strategy(bars, "swing", params, config)
    entries = []
    for i, row in params.iterrows():
        strategy = get_strategy("swing", dict(row))
        metrics = run_backtest(bars, strategy, config, journal=False).metrics
        assert_row_equals(swept.iloc[i], metrics, str(dict(row)))
        entries.append(metrics["entries"])
    assert entries[0] > 0 and entries[1] != entries[0]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("oversold", -5.0, "oversold"),
        ("overbought", 100.0, "overbought"),
        ("oversold", 70.0, r"oversold \(70.0\) must be < overbought \(70.0\)"),
        ("bb_std", 0.0, "bb_std"),
        ("bb_std", -1.0, "bb_std"),
        ("rsi_period", 501, "rsi_period"),
        ("bb_period", 1, "bb_period"),
        ("rsi_period", 2.5, "rsi_period"),
        ("stop_loss_pct", 1.0, "stop_loss_pct"),
        ("take_profit_pct", -0.1, "take_profit_pct"),
    ],
)
def test_bad_thresholds_are_refused_naming_the_parameter(
    xrp_1d: pd.DataFrame, column: str, value: object, message: str
) -> None:
    params = GRID.iloc[:2].copy()
    first = GRID[column].iloc[0] if column in GRID else None
    params[column] = pd.Series([first, value], dtype=object)
    with pytest.raises(StrategyError, match=message):
        sweep.sweep_strategy(xrp_1d, "swing", params)


def test_an_empty_threshold_is_the_strategys_default(xrp_1d: pd.DataFrame) -> None:
    params = GRID.iloc[:2].copy()
    params["oversold"] = [np.nan, 30.0]
    params["bb_period"] = params["bb_period"].iloc[0]
    params["bb_std"] = params["bb_std"].iloc[0]
    params["rsi_period"] = params["rsi_period"].iloc[0]
    params["overbought"] = params["overbought"].iloc[0]
    swept = sweep.sweep_strategy(xrp_1d, "swing", params)
    assert swept["entries"].iloc[0] > 0
    pd.testing.assert_series_equal(
        swept.iloc[0].drop("oversold"), swept.iloc[1].drop("oversold"), check_names=False
    )


def test_an_overflowing_take_profit_is_refused_on_an_entry_as_the_engine_does(
    xrp_1d: pd.DataFrame,
) -> None:
    params = GRID.iloc[:3].copy()
    params["take_profit_pct"] = [0.05, np.inf, 1e308]
    with pytest.raises(ValueError, match=r"take_profit \(row 1\): an entry's level must be"):
        sweep.sweep_strategy(xrp_1d, "swing", params)
    # no entry ever: nothing to refuse (the level is never used)
    quiet = params.iloc[1:2].assign(oversold=1e-9, overbought=50.0)
    assert sweep.sweep_strategy(xrp_1d, "swing", quiet)["entries"].iloc[0] == 0


def test_periods_longer_than_the_bars_never_trade(xrp_1d: pd.DataFrame) -> None:
    bars = xrp_1d.iloc[:300]
    params = pd.DataFrame({"rsi_period": [500, 14], "bb_period": [20, 500]})
    swept = sweep.sweep_strategy(bars, "swing", params)
    assert (swept["entries"] == 0).all() and (swept["total_return"] == 0).all()


def test_threads_progress_and_kernel_choice(xrp_1d: pd.DataFrame) -> None:
    rows = pd.concat([GRID] * 5, ignore_index=True)
    serial = sweep.sweep_blocks(xrp_1d, "swing", rows, parallel=False, blocks=4)
    threaded = sweep.sweep_blocks(xrp_1d, "swing", rows, parallel=True, blocks=4)
    pd.testing.assert_frame_equal(serial.table, threaded.table, check_exact=True)
    np.testing.assert_array_equal(serial.moments, threaded.moments)
    seen: list[int] = []
    sweep.sweep_strategy(xrp_1d, "swing", rows, progress=seen.append, chunk=16, parallel=True)
    assert seen == [16, 16, 8]
    # the compiled module's run_swing when the module is in use (aot.load: fresh, its stamp
    # covering this kernel's source), the JIT without a module or without the function
    fresh = types.SimpleNamespace(run_swing=print)
    with aot.forced(fresh):  # type: ignore[arg-type]
        assert sweep_swing.kernel() is print
    for module in (None, types.SimpleNamespace()):
        with aot.forced(module):  # type: ignore[arg-type]
            assert sweep_swing.kernel().__class__.__name__ == "CPUDispatcher"


def test_the_compiled_modules_stamp_covers_the_swing_kernel() -> None:
    assert "backtest/sweep_swing_kernel.py" in aot.SOURCES
