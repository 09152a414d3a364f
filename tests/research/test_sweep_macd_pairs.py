"""The MACD sweep runs pair by pair (``sweep_kernel.macd_pairs``/``macd_crossings``): a
scenario's bits must not depend on which scenarios share its pass, on their order, or on the
driver (serial JIT, ``prange``), and the crossings must be the strategy's own signals."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest import sweep, sweep_kernel, sweep_parallel
from trading_core.backtest.config import BacktestConfig
from trading_core.indicators._kernels import ema_pandas
from trading_core.strategies import get_strategy


def _bars(n: int = 700, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    opens = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0.0, 0.002, n))
    high = np.maximum(opens, close) * (1.0 + rng.uniform(0.0, 0.01, n))
    low = np.minimum(opens, close) * (1.0 - rng.uniform(0.0, 0.01, n))
    ts = pd.date_range("2024-01-01", periods=n, freq="h")
    return pd.DataFrame({"ts": ts, "open": opens, "high": high, "low": low, "close": close})


def _inputs(bars: pd.DataFrame, grid: pd.DataFrame) -> tuple[np.ndarray, ...]:
    ohlc = sweep._ohlc(bars)
    close = np.ascontiguousarray(ohlc[3])
    spans = np.unique(np.r_[grid["fast"].to_numpy(), grid["slow"].to_numpy()])
    row = {int(s): k for k, s in enumerate(spans)}
    emas = np.stack([ema_pandas(close, int(s)) for s in spans])
    fast = grid["fast"].map(row).to_numpy(np.int64)
    slow = grid["slow"].map(row).to_numpy(np.int64)
    return ohlc, emas, fast, slow, grid["signal"].to_numpy(np.int64)


GRID = pd.DataFrame(
    [(f, s, g) for f in (2, 3, 5) for s in (7, 12) for g in (1, 2, 3, 9)],
    columns=["fast", "slow", "signal"],
)
RULES = {
    "plain": (np.nan, np.nan, np.nan),
    "sl_tp_trail": (0.03, 0.06, 0.04),
}


@pytest.mark.parametrize("blocks", [0, 4])
@pytest.mark.parametrize("rule", sorted(RULES))
def test_companions_order_and_driver_do_not_change_the_bits(rule: str, blocks: int) -> None:
    bars = _bars()
    ohlc, emas, fast, slow, signal = _inputs(bars, GRID)
    n = len(GRID)
    rules = np.tile(np.array(RULES[rule]), (n, 1))
    conv = sweep._conventions(BacktestConfig(fee=0.001, fill="next_open"), 8760.0)

    def run(fn: object, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        moments = np.zeros((idx.size, blocks, 2))
        out = fn(  # type: ignore[operator]
            ohlc, emas, fast[idx], slow[idx], signal[idx], rules[idx], 50, conv, moments
        )
        return np.asarray(out), moments

    every = np.arange(n)
    out, moments = run(sweep_kernel.run_macd, every)
    # every scenario with a signal line trades (span 1 is the line itself: never crosses)
    assert (out[signal > 1, 1] > 0).all() and (out[signal == 1, 1] == 0).all()
    shuffled = np.random.default_rng(0).permutation(n)  # pairs interleaved
    out_s, moments_s = run(sweep_kernel.run_macd, shuffled)
    np.testing.assert_array_equal(out_s, out[shuffled])
    np.testing.assert_array_equal(moments_s, moments[shuffled])
    for s in (0, 5, n - 1):  # alone in its pass
        out_1, moments_1 = run(sweep_kernel.run_macd, np.array([s]))
        np.testing.assert_array_equal(out_1[0], out[s])
        np.testing.assert_array_equal(moments_1[0], moments[s])
    out_p, moments_p = run(sweep_parallel.run_macd_parallel, shuffled)
    np.testing.assert_array_equal(out_p, out[shuffled])
    np.testing.assert_array_equal(moments_p, moments[shuffled])


def test_macd_pairs_groups_every_scenario_once_in_row_order() -> None:
    fast = np.array([2, 0, 2, 1, 0, 2], dtype=np.int64)
    slow = np.array([3, 3, 3, 4, 3, 5], dtype=np.int64)
    order, bounds = sweep_kernel.macd_pairs(fast, slow)
    groups = [list(order[a:b]) for a, b in itertools.pairwise(bounds)]
    assert groups == [[1, 4], [3], [0, 2], [5]]
    empty_order, empty_bounds = sweep_kernel.macd_pairs(fast[:0], slow[:0])
    assert empty_order.size == 0 and list(empty_bounds) == [0]


def test_no_scenarios_give_an_empty_result() -> None:
    bars = _bars(60)
    ohlc, emas, *_ = _inputs(bars, GRID)
    conv = sweep._conventions(BacktestConfig(), 8760.0)
    none = np.zeros(0, dtype=np.int64)
    for fn in (sweep_kernel.run_macd, sweep_parallel.run_macd_parallel):
        out = fn(ohlc, emas, none, none, none, np.zeros((0, 3)), 0, conv, np.zeros((0, 0, 2)))
        assert out.shape == (0, len(sweep_kernel.OUT_FIELDS))


def test_crossings_are_the_strategys_signals() -> None:
    bars = _bars(400, seed=11)
    close = bars["close"].to_numpy()
    fast, slow, spans = ema_pandas(close, 4), ema_pandas(close, 11), np.array([2, 3, 5, 9])
    enter = np.empty((spans.size, close.size), dtype=np.bool_)
    leave = np.empty_like(enter)
    sweep_kernel.macd_crossings(fast, slow, spans, enter, leave)
    for k, span in enumerate(spans):
        signals = get_strategy("macd", {"fast": 4, "slow": 11, "signal": int(span)}).signals(bars)
        np.testing.assert_array_equal(enter[k], np.asarray(signals["entry"], dtype=bool))
        np.testing.assert_array_equal(leave[k], np.asarray(signals["exit"], dtype=bool))
        assert enter[k].any() and leave[k].any()


def test_a_line_that_never_starts_gives_no_crossings() -> None:
    nan = np.full(50, np.nan)
    enter = np.ones((2, 50), dtype=np.bool_)
    leave = np.ones((2, 50), dtype=np.bool_)
    sweep_kernel.macd_crossings(nan, nan, np.array([1, 3]), enter, leave)
    assert not enter.any() and not leave.any()
