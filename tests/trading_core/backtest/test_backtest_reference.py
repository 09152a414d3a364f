"""The backtester against the published reference and an independent pandas loop."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
from trading_core.strategies import get_strategy


@pytest.fixture(scope="module")
def xrp_1d(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_1d.csv")


def test_macd_30_60_15_on_xrp_1d_last_365_candles_reproduces_the_reference(
    xrp_1d: pd.DataFrame,
) -> None:
    window = xrp_1d.iloc[-365:]
    strategy = get_strategy("macd", {"fast": 30, "slow": 60, "signal": 15})
    result = run_backtest(window, strategy, BacktestConfig(fee=0.001, fill="close"))
    assert (result.window_start, result.window_end) == (
        pd.Timestamp("2025-01-06"),
        pd.Timestamp("2026-01-05"),
    )
    m = result.metrics
    assert round(m["total_return"], 3) == 0.471  # STACK.md: +47.1 %
    assert round(m["buy_and_hold"], 3) == -0.030  # STACK.md: -3.0 %
    # Pinned to the bit: any change to fills, fees or crossings shows up here (the hash
    # moved once, when entries began to be booked as value + fee, as the ledger books them).
    assert m["total_return"] == pytest.approx(0.4712172832260402, rel=1e-12)
    assert m["buy_and_hold"] == pytest.approx(-0.029834710743801618, rel=1e-12)
    assert (m["entries"], m["closed_trades"]) == (5, 4)
    assert m["win_rate"] == 0.5
    assert m["max_drawdown"] == pytest.approx(-0.28927, abs=5e-6)
    assert m["sharpe"] == pytest.approx(1.2310, abs=5e-5)
    assert result.trade_hash == "ef82a11c7ac84f70a52e1b05ff36b9b55a241916298ba1f35e5a448f7124bf38"


def reference_macd_backtest(close: pd.Series, fast: int, slow: int, signal: int, fee: float):
    """vectorbt's rules written out independently: pandas ewm, a cash/units loop."""

    def ewm(series: pd.Series, span: int) -> pd.Series:
        return series.ewm(span=span, adjust=False, min_periods=span).mean()

    line = ewm(close, fast) - ewm(close, slow)
    trigger = ewm(line, signal)
    below, above = line < trigger, line > trigger
    enter = above & below.shift(1, fill_value=False)
    leave = below & above.shift(1, fill_value=False)
    cash, units, cost = 1.0, 0.0, 0.0
    values, pnls, entries = [], [], 0
    for price, e, x in zip(close, enter, leave, strict=True):
        if units and x:
            cash = units * price * (1 - fee)
            pnls.append(cash - cost)
            units = 0.0
        elif not units and e:
            units, cost, cash = cash / (price * (1 + fee)), cash, 0.0
            entries += 1
        values.append(cash + units * price)
    value = pd.Series(values)
    returns = value.pct_change()
    returns.iloc[0] = value.iloc[0] - 1.0
    return {
        "total_return": value.iloc[-1] - 1.0,
        "entries": entries,
        "closed_trades": len(pnls),
        "win_rate": float(np.mean([p > 0 for p in pnls])) if pnls else math.nan,
        "max_drawdown": float((value / value.cummax() - 1).min()),
        "sharpe": returns.mean() / returns.std(ddof=1) * math.sqrt(365),
    }


@pytest.mark.parametrize(
    ("fast", "slow", "signal"), [(12, 26, 9), (30, 60, 15), (2, 3, 2), (5, 35, 5), (40, 80, 20)]
)
def test_engine_equals_an_independent_pandas_loop(
    xrp_1d: pd.DataFrame, fast: int, slow: int, signal: int
) -> None:
    strategy = get_strategy("macd", {"fast": fast, "slow": slow, "signal": signal})
    got = run_backtest(xrp_1d, strategy, BacktestConfig(fee=0.001)).metrics
    want = reference_macd_backtest(xrp_1d["close"], fast, slow, signal, 0.001)
    for key in ("entries", "closed_trades"):
        assert got[key] == want[key], key
    for key in ("total_return", "win_rate", "max_drawdown", "sharpe"):
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), key
