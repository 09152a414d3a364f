"""``Strategy.warmup_bars``: enough history for every built-in strategy's indicators to
equal their full-history values, so a warmed-up window trades exactly like full history."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
from trading_core.indicators import macd
from trading_core.strategies import get_strategy
from trading_core.strategies.base import WARMUP_TOLERANCE, ema_settle_bars, wilder_settle_bars

CANDLE_STRATEGIES = [
    ("macd", {}),
    ("macd", {"fast": 30, "slow": 60, "signal": 15}),
    ("macd", {"fast": 30, "slow": 60, "signal": 15, "convention": "talib"}),
    ("swing", {}),
    ("scalping", {}),
    ("grid", {}),
    ("grid", {"max_adx": None}),
    ("composite", {}),
]


@pytest.fixture(scope="module")
def eth_4h(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_ETHUSDT_4h.csv")


def test_settling_bars_shrink_the_seed_weight_below_the_tolerance() -> None:
    for span in (2, 9, 60, 200):
        k = ema_settle_bars(span)
        alpha = 2.0 / (span + 1)
        assert (1 - alpha) ** k <= WARMUP_TOLERANCE < (1 - alpha) ** (k - 1)
    k = wilder_settle_bars(14)
    assert (13 / 14) ** k <= WARMUP_TOLERANCE < (13 / 14) ** (k - 1)
    # about 20.7 x (span + 1) / 2 for an EMA, 20.7 x n for a Wilder average
    assert ema_settle_bars(60) == math.ceil(math.log(1e-9) / math.log(59 / 61)) == 622


def test_warmup_bars_is_at_least_the_first_signal_bar() -> None:
    for name, params in CANDLE_STRATEGIES:
        strategy = get_strategy(name, params)
        assert strategy.warmup_bars >= strategy.warmup
    assert get_strategy("arbitrage").warmup_bars == 0
    # the example: slow EMA 622 + signal EMA 156 + 1 (a crossing looks one bar back)
    assert ema_settle_bars(15) == 156
    assert get_strategy("macd", {"fast": 30, "slow": 60, "signal": 15}).warmup_bars == 779


@pytest.mark.parametrize(("name", "params"), CANDLE_STRATEGIES)
def test_signals_after_warmup_equal_the_full_history_signals(
    eth_4h: pd.DataFrame, name: str, params: dict
) -> None:
    strategy = get_strategy(name, params)
    start = len(eth_4h) - 1500
    full = strategy.signals(eth_4h).iloc[start:].reset_index(drop=True)
    cut = eth_4h.iloc[start - strategy.warmup_bars :].reset_index(drop=True)
    warm = strategy.signals(cut).iloc[strategy.warmup_bars :].reset_index(drop=True)
    for column in ("entry", "exit", "reason"):
        pd.testing.assert_series_equal(warm[column], full[column], check_names=False)
    for column in ("stop_loss", "take_profit", "limit_price"):
        pd.testing.assert_series_equal(
            warm[column], full[column], check_names=False, rtol=1e-9, atol=0
        )


def test_the_macd_line_after_warmup_is_within_the_tolerance(eth_4h: pd.DataFrame) -> None:
    strategy = get_strategy("macd", {"fast": 30, "slow": 60, "signal": 15})
    start = len(eth_4h) - 500
    close = eth_4h["close"]
    full = macd(close, 30, 60, 15, "pandas").iloc[start:]
    warm = macd(close.iloc[start - strategy.warmup_bars :], 30, 60, 15, "pandas").iloc[
        strategy.warmup_bars :
    ]
    scale = close.iloc[start:].abs().max()
    assert (warm - full).abs().max().max() <= 10 * WARMUP_TOLERANCE * scale
    cold = macd(close.iloc[start:], 30, 60, 15, "pandas")
    assert (cold - full).abs().max().max() > 1e-3 * scale  # a cold start is visibly off


@pytest.mark.parametrize(("name", "params"), CANDLE_STRATEGIES[:6])
def test_a_warm_backtest_window_trades_like_full_history(
    eth_4h: pd.DataFrame, name: str, params: dict
) -> None:
    strategy = get_strategy(name, params)
    start = eth_4h["ts"].iloc[len(eth_4h) - 2000]
    config = BacktestConfig(fill="next_open", stop_loss_pct=0.05)
    everything = run_backtest(eth_4h, strategy, config, trade_from=start)
    auto = run_backtest(eth_4h, strategy, config.model_copy(update={"warmup": "auto"}), start)
    assert auto.history_bars == strategy.warmup_bars < everything.history_bars
    assert auto.trade_hash == everything.trade_hash
    assert auto.metrics == everything.metrics
