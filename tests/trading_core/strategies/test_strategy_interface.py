"""The strategy interface: validated params, no lookahead, and decide() == signals() on the
last bar for every registered strategy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest import read_ohlcv_csv
from trading_core.strategies import (
    SIGNAL_COLUMNS,
    STRATEGIES,
    Decision,
    StrategyError,
    get_strategy,
    spread_bars,
)


@pytest.fixture(scope="module")
def xrp_4h(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_4h.csv").iloc[-1500:]


@pytest.fixture(scope="module")
def perp_5m(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDTPERP_5m.csv")


def two_venues(bars: pd.DataFrame) -> pd.DataFrame:
    """Venue B = venue A with a deterministic, mean-reverting premium of up to ~1 %."""
    premium = 0.01 * np.sin(np.arange(len(bars)) / 7.0)
    b = bars.assign(close=bars["close"] * (1.0 + premium))
    return spread_bars(bars, b)


def bars_for(name: str, xrp_4h: pd.DataFrame, perp_5m: pd.DataFrame) -> pd.DataFrame:
    if name == "scalping":
        return perp_5m
    if name == "arbitrage":
        return two_venues(xrp_4h)
    return xrp_4h


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_signals_have_the_documented_columns_and_fire(
    name: str, xrp_4h: pd.DataFrame, perp_5m: pd.DataFrame
) -> None:
    bars = bars_for(name, xrp_4h, perp_5m)
    signals = get_strategy(name).signals(bars)
    assert list(signals.columns) == list(SIGNAL_COLUMNS)
    assert signals.index.equals(bars.index)
    assert signals["entry"].dtype == bool and signals["exit"].dtype == bool
    assert signals["entry"].sum() > 0, f"{name} never enters on real data"
    assert (signals["reason"][signals["entry"]] != "").all()


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_signals_use_no_future_bars(name: str, xrp_4h: pd.DataFrame, perp_5m: pd.DataFrame) -> None:
    bars = bars_for(name, xrp_4h, perp_5m)
    strategy = get_strategy(name)
    full = strategy.signals(bars)
    for t in np.linspace(strategy.warmup + 1, len(bars) - 1, 12).astype(int):
        cut = strategy.signals(bars.iloc[: t + 1])
        pd.testing.assert_series_equal(cut.iloc[-1], full.iloc[t], check_names=False)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_decide_is_signals_on_the_last_bar(
    name: str, xrp_4h: pd.DataFrame, perp_5m: pd.DataFrame
) -> None:
    bars = bars_for(name, xrp_4h, perp_5m)
    strategy = get_strategy(name)
    full = strategy.signals(bars)
    entry_bar = int(np.flatnonzero(full["entry"])[-1])
    history = bars.iloc[: entry_bar + 1]
    decision = strategy.decide(history, in_position=False)
    assert isinstance(decision, Decision)
    assert decision.action == "enter"
    assert decision.price == history["close"].iloc[-1]
    assert decision.bar_ts == history["ts"].iloc[-1]
    assert decision.reason == full["reason"].iloc[entry_bar]
    limit = full["limit_price"].iloc[entry_bar]
    assert decision.order_type == ("market" if np.isnan(limit) else "limit")
    # Already long: an entry signal is not a decision.
    assert strategy.decide(history, in_position=True) is None or full["exit"].iloc[entry_bar]


def test_decide_exits_only_when_in_position(xrp_4h: pd.DataFrame) -> None:
    strategy = get_strategy("macd")
    full = strategy.signals(xrp_4h)
    exit_bar = int(np.flatnonzero(full["exit"])[-1])
    history = xrp_4h.iloc[: exit_bar + 1]
    assert strategy.decide(history, in_position=False) is None
    decision = strategy.decide(history, in_position=True)
    assert decision is not None and decision.action == "exit"
    assert decision.stop_loss is None and decision.limit_price is None


def test_macd_cross_is_strict_on_both_bars() -> None:
    from trading_core.strategies import crossed_above

    a = pd.Series([0.0, 1.0, 1.0, 2.0, 0.0, 3.0])
    b = pd.Series([1.0, 1.0, 1.5, 1.5, 1.0, 1.0])
    # bar 1 touches (equal) - not above; bar 3 rises from below - a cross; bar 5 too.
    assert crossed_above(a, b).tolist() == [False, False, False, True, False, True]


def test_unknown_strategy_lists_the_allowed_names() -> None:
    with pytest.raises(StrategyError, match=r"unknown strategy 'nope'; allowed: \['arbitrage'"):
        get_strategy("nope")


def test_unknown_and_invalid_params_name_the_field_and_the_allowed_values() -> None:
    with pytest.raises(StrategyError) as err:
        get_strategy("macd", {"fats": 3, "signal": 0})
    message = str(err.value)
    assert "fats: unknown parameter; allowed: fast, slow, signal, convention" in message
    assert "signal: Input should be greater than or equal to 2 (got 0; default 9)" in message
    with pytest.raises(StrategyError, match=r"fast \(30\) must be < slow \(20\)"):
        get_strategy("macd", {"fast": 30, "slow": 20})
    with pytest.raises(StrategyError, match="convention: Input should be 'talib' or 'pandas'"):
        get_strategy("macd", {"convention": "vbt"})
    with pytest.raises(StrategyError, match=r"unknown signal input\(s\) \['moon'\]"):
        get_strategy("composite", {"weights": {"macd": 1.0, "moon": 1.0}})
    with pytest.raises(StrategyError, match=r"oversold \(80.0\) must be < overbought"):
        get_strategy("swing", {"oversold": 80})


def test_params_given_as_strings_are_coerced_like_a_cli_would_send_them() -> None:
    strategy = get_strategy("macd", {"fast": "5", "slow": "13", "signal": "4"})
    assert (strategy.params.fast, strategy.params.slow, strategy.params.signal) == (5, 13, 4)
    assert strategy.warmup == 16


def test_missing_columns_are_named(xrp_4h: pd.DataFrame) -> None:
    with pytest.raises(StrategyError, match=r"needs columns .*missing \['close_a', 'close_b'\]"):
        get_strategy("arbitrage").signals(xrp_4h)


def test_scalping_uses_book_imbalance_when_present(perp_5m: pd.DataFrame) -> None:
    strategy = get_strategy("scalping")
    plain = strategy.signals(perp_5m)
    against = strategy.signals(perp_5m.assign(book_imbalance=-0.5))
    assert plain["entry"].sum() > 0
    assert against["entry"].sum() == 0
    first = int(np.flatnonzero(plain["entry"])[0])
    close = perp_5m["close"].iloc[first]
    assert plain["stop_loss"].iloc[first] == pytest.approx(close * 0.997)
    assert plain["take_profit"].iloc[first] == pytest.approx(close * 1.006)


def test_grid_places_limits_strictly_below_the_close(xrp_4h: pd.DataFrame) -> None:
    signals = get_strategy("grid", {"max_adx": None}).signals(xrp_4h)
    placed = signals[signals["entry"]]
    close = xrp_4h["close"][signals["entry"]]
    assert (placed["limit_price"] < close).all()
    assert (placed["take_profit"] > placed["limit_price"]).all()
    assert (placed["stop_loss"] < placed["limit_price"]).all()


def test_arbitrage_enters_only_beyond_fees_and_edge(xrp_4h: pd.DataFrame) -> None:
    bars = two_venues(xrp_4h)
    strategy = get_strategy("arbitrage", {"fee_a": 0.001, "fee_b": 0.001, "min_edge_bps": 10})
    signals = strategy.signals(bars)
    spread_bps = (bars["close_b"] / bars["close_a"] - 1) * 1e4
    assert (spread_bps[signals["entry"]] > 50).all()  # 2 x (10 + 10) bps fees + 10 bps edge
    assert signals["entry"].sum() > 0
    assert (bars["close"] == bars["close_a"] / bars["close_b"]).all()


def test_composite_reuses_indicator_columns_when_the_bars_carry_them(
    xrp_4h: pd.DataFrame,
) -> None:
    from trading_core.indicators import compute_all

    strategy = get_strategy("composite")
    enriched = pd.concat([xrp_4h, compute_all(xrp_4h)], axis=1)
    pd.testing.assert_frame_equal(strategy.signals(enriched), strategy.signals(xrp_4h))
    assert strategy.warmup == 199  # ema_200 feeds the trend input
