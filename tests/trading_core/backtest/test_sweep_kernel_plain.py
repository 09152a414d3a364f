"""The plain path of the sweep kernel (``sweep_kernel.simulate_plain``): close fills, no exit
rules, no levels. It must equal the general ``simulate`` (bit for bit where it books the
same numbers: total return, counts, drawdown) and the reference backtester to 1e-9, block
sums included, on every corner a trade can sit in (first bar, last bar, ``start``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.trading_core.backtest.test_sweep_rules import assert_row_equals
from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
from trading_core.backtest import sweep_kernel as kernel
from trading_core.backtest.sweep import macd_grid, sweep_blocks, sweep_strategy
from trading_core.research.overfitting import block_moments
from trading_core.research.selection import backtest_returns
from trading_core.strategies import get_strategy

NONE = np.zeros(0)


def _closes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))


def _both(
    c: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    start: int,
    blocks: int,
    fee: float = 0.001,
    slippage_bps: float = 0.0,
    close_at_end: bool = False,
    cash: float = 10_000.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(general out, plain out, general block sums, plain block sums) of one scenario."""
    general, plain = np.empty(7), np.empty(7)
    m_general, m_plain = np.zeros((blocks, 2)), np.zeros((blocks, 2))
    kernel.simulate(
        c, c, c, c, entries, exits, False, NONE, NONE, NONE, NONE, start, fee, fee,
        slippage_bps, False, 1, close_at_end, np.nan, np.nan, np.nan, cash, 8760.0,
        general, m_general,
    )  # fmt: skip
    kernel.simulate_plain(
        c, entries, exits, start, fee, slippage_bps, close_at_end, cash, 8760.0,
        kernel.close_returns(c), kernel.block_starts(start, c.size - start, blocks),
        plain, m_plain,
    )  # fmt: skip
    return general, plain, m_general, m_plain


def _assert_same(general: np.ndarray, plain: np.ndarray, mg: np.ndarray, mp: np.ndarray) -> None:
    # booked the same way: total return, entries, closed, wins and drawdown to the bit
    np.testing.assert_array_equal(plain[:5], general[:5])
    # held bars' returns from the shared close-to-close returns: ~1e-16 each
    np.testing.assert_allclose(plain[5:], general[5:], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mp, mg, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("seed", range(6))
def test_plain_path_equals_the_general_path_on_random_signals(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    c = _closes(n, seed)
    for density in (0.02, 0.2, 0.6):
        entries = rng.random(n) < density
        exits = rng.random(n) < density
        entries[[0, n - 1]] = True  # a trade on the first and on the last bar
        for start in (0, 1, 37, n - 2, n - 1):
            for blocks in (0, 1, 5, n - start):
                for close_at_end in (False, True):
                    got = _both(c, entries, exits, start, blocks, 0.002, 7.5, close_at_end)
                    _assert_same(*got)


def test_plain_path_corners() -> None:
    c = _closes(60, 9)
    nothing = np.zeros(60, dtype=np.bool_)
    always = np.ones(60, dtype=np.bool_)
    cases = {
        "never trades": (nothing, nothing),
        "enters every bar, never exits": (always, nothing),
        "signals everything": (always, always),
        "exits only": (nothing, always),
    }
    for label, (entries, exits) in cases.items():
        for cash in (1e-6, 123.0, 1e12):
            general, plain, mg, mp = _both(c, entries, exits, 3, 4, cash=cash)
            _assert_same(general, plain, mg, mp)
            if label == "never trades":
                assert plain[0] == 0.0 and plain[1] == 0 and plain[4] == 0.0
                assert np.isnan(plain[5]) and np.isnan(plain[6]) and not mp.any()
    # a window of one bar: no Sharpe (ddof 1), an entry on it still books its fee
    general, plain, mg, mp = _both(c, always, nothing, 59, 1)
    _assert_same(general, plain, mg, mp)
    assert plain[1] == 1 and plain[0] < 0 and np.isnan(plain[5])


def test_block_starts_cut_the_window_as_the_kernel_does() -> None:
    for count, blocks in ((10, 3), (16, 16), (7, 1), (5, 9), (100, 0), (0, 0)):
        bounds = kernel.block_starts(4, count, blocks)
        assert bounds.shape == (blocks + 1,) and bounds[-1] == 4 + count
        for i in range(4, 4 + count if blocks else 4):
            block = (i - 4) * blocks // count
            assert bounds[block] <= i < bounds[block + 1]


def test_only_plain_scenarios_take_the_plain_path() -> None:
    close = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1e4, 8760.0])  # conventions, close fills
    next_open = close.copy()
    next_open[3] = 1.0
    none = np.full(3, np.nan)
    assert kernel.is_plain(False, none, close)
    assert not kernel.is_plain(True, none, close)  # per-bar levels
    assert not kernel.is_plain(False, none, next_open)
    for k in range(3):
        rule = none.copy()
        rule[k] = 0.05
        assert not kernel.is_plain(False, rule, close)
    # a run without a plain scenario computes nothing for them
    returns, bounds = kernel.plain_inputs(np.ones(5), False, np.full((2, 3), 0.1), close, 0, 2)
    assert returns.size == 0 and bounds.size == 1
    returns, bounds = kernel.plain_inputs(np.r_[1.0, 2.0, 1.0], False, none[None], close, 0, 2)
    np.testing.assert_array_equal(returns, [0.0, 1.0, -0.5])
    np.testing.assert_array_equal(bounds, [0, 2, 3])


@pytest.fixture(scope="module")
def xrp_1h(shared_data: Path) -> pd.DataFrame:
    bars = read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_1h.csv")
    return bars.iloc[-3000:].reset_index(drop=True)


PLAIN = {
    "default": BacktestConfig(),
    "slippage_close_at_end": BacktestConfig(
        fee=0.002, slippage_bps=12.0, close_at_end=True, initial_cash=123.0
    ),
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_sweep_equals_the_backtester_on_real_data(xrp_1h: pd.DataFrame, name: str) -> None:
    config = PLAIN[name]
    grid = macd_grid().iloc[::97].reset_index(drop=True)
    swept = sweep_strategy(xrp_1h, "macd", grid, config)
    for i, row in grid.iterrows():
        params = {k: int(v) for k, v in row.items()}
        metrics = run_backtest(xrp_1h, get_strategy("macd", params), config, journal=False).metrics
        assert_row_equals(swept.iloc[i], metrics, f"{name} {params}")
        np.testing.assert_allclose(swept.iloc[i]["sortino"], metrics["sortino"], rtol=1e-9)
    assert swept["entries"].sum() > 100


def test_plain_block_sums_equal_the_backtesters_returns(xrp_1h: pd.DataFrame) -> None:
    grid = pd.DataFrame({"fast": [5, 12, 2], "slow": [30, 26, 9], "signal": [4, 9, 2]})
    config = PLAIN["slippage_close_at_end"]
    for blocks in (7, 16):
        swept = sweep_blocks(xrp_1h, "macd", grid, config, start=400, blocks=blocks)
        for i, record in enumerate(grid.to_dict(orient="records")):
            returns, _ = backtest_returns(xrp_1h, "macd", record, config, 400)
            expected, counts = block_moments(returns[:, None], blocks)
            np.testing.assert_array_equal(counts, swept.counts)
            np.testing.assert_allclose(swept.moments[i], expected[0], rtol=1e-9, atol=1e-13)
