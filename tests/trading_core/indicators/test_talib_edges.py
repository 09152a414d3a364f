"""TA-Lib's edge cases: CCI on a flat window, Williams %R at the high, MACD / STOCH start."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trading_core import indicators as ind
from trading_core.indicators import WARMUP, compute_all


def _bars(close: np.ndarray) -> pd.DataFrame:
    ts = pd.date_range("2024-01-01", periods=close.size, freq="h")
    return pd.DataFrame(
        {"ts": ts, "open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
         "volume": np.ones(close.size)}
    )  # fmt: skip


def test_cci_is_zero_on_a_flat_window_after_a_moving_one() -> None:
    # a running mean keeps a residue after the move; TA-Lib's fresh sum gives exactly 0
    close = np.concatenate([np.linspace(1.0, 3.7, 40), np.full(40, 0.1 + 0.2)])
    bars = _bars(close)
    out = ind.cci(bars.high, bars.low, bars.close, 20)
    assert (out.iloc[60:] == 0.0).all()
    assert out.iloc[:19].isna().all() and out.iloc[19:40].abs().gt(0).all()


def test_williams_r_is_never_negative_zero() -> None:
    close = np.concatenate([np.linspace(1.0, 2.0, 30), np.full(5, 2.0)])
    bars = _bars(close)
    bars["high"] = bars["close"]  # the close sits at the window's high: %R = 0
    out = ind.williams_r(bars.high, bars.low, bars.close, 14).dropna()
    zeros = out[out == 0.0]
    assert len(zeros) > 0 and not any(math.copysign(1.0, v) < 0 for v in zeros)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (3, 10, 4), (5, 6, 1)])
def test_talib_macd_outputs_start_together_on_the_signals_first_bar(
    fast: int, slow: int, signal: int
) -> None:
    close = pd.Series(100 + np.cumsum(np.random.default_rng(1).normal(size=200)))
    out = ind.macd(close, fast, slow, signal)
    first = slow + signal - 2
    for column in out.columns:
        assert out[column].iloc[:first].isna().all() and out[column].iloc[first:].notna().all()
    pandas = ind.macd(close, fast, slow, signal, convention="pandas")
    assert pandas.iloc[:, 0].first_valid_index() == slow - 1


def test_stochastic_k_starts_with_d_and_the_catalog_agrees() -> None:
    bars = _bars(100 + np.cumsum(np.random.default_rng(2).normal(size=300)))
    out = ind.stochastic(bars.high, bars.low, bars.close, 14, 3, 3)
    assert out.iloc[:, 0].first_valid_index() == out.iloc[:, 1].first_valid_index() == 17
    table = compute_all(bars)
    for column, first in WARMUP.items():
        assert table[column].first_valid_index() == first, column
