"""``BacktestConfig.warmup`` and ``backtest.warmup``: which earlier bars feed the indicators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest import BacktestConfig, run_backtest
from trading_core.backtest.trade_log import rolling_std_of_log_returns
from trading_core.backtest.warmup import apply_warmup, parse_warmup
from trading_core.strategies import get_strategy


def synthetic_bars(n: int = 1200) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    spread = np.abs(rng.normal(0.0, 0.01, n)) * close
    return pd.DataFrame(
        {
            "ts": pd.date_range("2020-01-01", periods=n, freq="D"),
            "open": np.r_[close[0], close[:-1]],
            "high": close + spread,
            "low": close - spread,
            "close": close,
            "volume": 1.0,
        }
    )


@pytest.mark.parametrize(
    ("text", "expected"), [("auto", "auto"), (" COLD ", "cold"), ("all", "all"), ("0", 0), (7, 7)]
)
def test_parse_warmup_accepts_the_modes_and_bar_counts(text: str | int, expected: object) -> None:
    assert parse_warmup(text) == expected


@pytest.mark.parametrize("text", ["-1", "warm", "1.5", "", "nan", True, -4])
def test_parse_warmup_rejects_anything_else_naming_warmup(text: object) -> None:
    with pytest.raises(ValueError, match="warmup"):
        parse_warmup(text)  # type: ignore[arg-type]


def test_config_validates_warmup() -> None:
    assert BacktestConfig().warmup == "all"  # the library keeps every bar it is given
    assert BacktestConfig(warmup=12).warmup == 12
    for bad in (-1, "warm", 2.5):
        with pytest.raises(ValueError, match="warmup"):
            BacktestConfig(warmup=bad)


def test_apply_warmup_keeps_the_requested_bars_before_the_window() -> None:
    bars = synthetic_bars()
    strategy = get_strategy("macd", {"fast": 5, "slow": 20, "signal": 5})
    need = strategy.warmup_bars
    cut, start, info = apply_warmup(bars, 1000, strategy, "auto")
    assert start == need and len(cut) == len(bars) - 1000 + need
    assert cut["ts"].iloc[start] == bars["ts"].iloc[1000]
    assert info.to_dict() == {
        "warmup": "auto",
        "warmup_bars": need,
        "warmup_bars_needed": need,
        "warmup_complete": True,
        "first_bar_used": bars["ts"].iloc[1000 - need].isoformat(),
    }
    cut, start, info = apply_warmup(bars, 1000, strategy, "cold")
    assert start == 0 and info.bars == 0 and info.complete
    cut, start, info = apply_warmup(bars, 1000, strategy, 40)
    assert start == 40 and info.needed == 40
    cut, start, info = apply_warmup(bars, 1000, strategy, "all")
    assert start == 1000 and cut is bars


def test_apply_warmup_says_when_the_data_is_too_short() -> None:
    bars = synthetic_bars()
    strategy = get_strategy("macd", {"fast": 30, "slow": 60, "signal": 15})
    _, start, info = apply_warmup(bars, 100, strategy, "auto")
    assert start == 100 and info.bars == 100 and info.needed == 779
    assert info.complete is False
    result = run_backtest(bars, strategy, BacktestConfig(warmup="auto"), bars["ts"].iloc[100])
    assert result.to_dict()["warmup_complete"] is False
    assert "INCOMPLETE, needs 779" in result.describe()


def test_cold_and_auto_differ_and_auto_matches_all_on_synthetic_data() -> None:
    bars = synthetic_bars()
    strategy = get_strategy("macd", {"fast": 10, "slow": 40, "signal": 9})
    start = bars["ts"].iloc[900]
    runs = {
        mode: run_backtest(bars, strategy, BacktestConfig(warmup=mode), start)
        for mode in ("auto", "cold", "all")
    }
    assert runs["auto"].trade_hash == runs["all"].trade_hash
    assert runs["auto"].trade_log == runs["all"].trade_log
    assert runs["cold"].trade_hash != runs["all"].trade_hash
    assert runs["cold"].history_bars == 0 and runs["auto"].history_bars == strategy.warmup_bars


def test_rolling_volatility_matches_pandas_and_ignores_earlier_history() -> None:
    close = synthetic_bars()["close"].to_numpy()
    ours = rolling_std_of_log_returns(close)
    theirs = np.log(pd.Series(close) / pd.Series(close).shift(1)).rolling(20).std().to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, equal_nan=True)
    assert np.array_equal(rolling_std_of_log_returns(close[500:])[20:], ours[520:])
    assert np.isnan(rolling_std_of_log_returns(close[:10])).all()
