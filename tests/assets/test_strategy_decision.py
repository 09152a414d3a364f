"""The live decision of one bar (``assets.strategy.evaluate_bar``): the live lookback gives the
full-history indicator values and signals (real data), sizing and exit levels come from
``trading_core.position_sizing``, and hostile inputs end as outcomes, never as crashes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from assets.strategy import evaluate_bar, evaluation_lookback, intent_for
from trading_core.backtest import read_ohlcv_csv
from trading_core.indicators import macd, rsi
from trading_core.series import BarKey, SeriesKey
from trading_core.strategies import Decision, get_strategy

SERIES = SeriesKey("binance", "BTC/USDT", "1h")
# Strategies that run on candles alone, with parameters that stress the warm-up.
CASES = [
    ("macd", {}),
    ("macd", {"fast": 30, "slow": 60, "signal": 15}),
    ("macd", {"fast": 30, "slow": 60, "signal": 15, "convention": "talib"}),
    ("swing", {}),
    ("scalping", {}),
    ("grid", {}),
    ("composite", {}),
]


@dataclass
class Settings:
    name: str = "macd"
    params: dict[str, Any] = field(default_factory=dict)
    position_fraction: float = 0.2
    stop_loss_pct: float | None = 0.02
    take_profit_pct: float | None = 0.04
    trailing_stop_pct: float | None = None


@pytest.fixture(scope="module")
def btc_1h(shared_data: Path) -> pd.DataFrame:
    bars = read_ohlcv_csv(shared_data / "market" / "binance_BTCUSDT_1h.csv")
    return bars.iloc[-6000:].reset_index(drop=True)


def _same(a: Any, b: Any) -> bool:
    """Equal bit for bit, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return bool(a == b) and type(a) is type(b)


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}{p}" for n, p in CASES])
def test_signals_on_the_live_lookback_equal_the_full_history(btc_1h, name, params) -> None:
    strategy = get_strategy(name, params)
    lookback = evaluation_lookback(strategy, 300)
    full = strategy.signals(btc_1h)
    checked = 0
    for i in range(len(btc_1h) - 150, len(btc_1h), 3):  # the newest bars, as live
        live = strategy.signals(btc_1h.iloc[i + 1 - lookback : i + 1]).iloc[-1]
        for column in full.columns:
            assert _same(live[column], full[column].iloc[i]), (
                f"{name}{params} bar {i} column {column}: lookback {lookback} gives "
                f"{live[column]!r}, full history {full[column].iloc[i]!r}"
            )
        checked += 1
    assert checked == 50


def test_the_lookback_gives_full_history_indicator_values_bit_for_bit(btc_1h) -> None:
    """MACD(30,60,15) and RSI(14) on the live lookback: the very same floats."""
    strategy = get_strategy("macd", {"fast": 30, "slow": 60, "signal": 15})
    lookback = evaluation_lookback(strategy, 300)
    close = btc_1h["close"]
    full_macd, full_rsi = macd(close, 30, 60, 15, "pandas"), rsi(close, 14)
    for i in range(len(close) - 60, len(close)):
        window = close.iloc[i + 1 - lookback : i + 1]
        assert (macd(window, 30, 60, 15, "pandas").iloc[-1] == full_macd.iloc[i]).all()
        assert rsi(window, 14).iloc[-1] == full_rsi.iloc[i]


def test_the_old_300_bar_lookback_was_not_enough(btc_1h) -> None:
    """Why the lookback changed: with 300 bars MACD(30,60,15) is not the full-history value."""
    close = btc_1h["close"]
    full = macd(close, 30, 60, 15, "pandas").iloc[-1]
    short = macd(close.iloc[-300:], 30, 60, 15, "pandas").iloc[-1]
    assert not (short == full).all()
    assert (
        evaluation_lookback(get_strategy("macd", {"fast": 30, "slow": 60, "signal": 15}), 300) > 300
    )


def _entry(price: float = 100.0, **changes: Any) -> Decision:
    values: dict[str, Any] = {
        "action": "enter",
        "bar": 0,
        "bar_ts": None,
        "price": price,
        "size_fraction": 1.0,
        "limit_price": None,
        "stop_loss": None,
        "take_profit": None,
        "reason": "test",
    }
    return Decision(**{**values, **changes})


BAR = BarKey(SERIES, datetime(2023, 6, 1, 10))


def test_entries_are_sized_by_position_sizing_and_capped_by_cash() -> None:
    intent = intent_for(BAR, _entry(), Settings(), equity=1000.0, cash=1000.0)
    assert intent.notional == 0.2 * 1000.0
    assert intent.notional_includes_fee  # all-in: value + fee == notional
    # the fractions travel with the intent: the executor applies them to the fill price
    assert (intent.stop_loss, intent.take_profit) == (None, None)
    assert (intent.stop_loss_pct, intent.take_profit_pct) == (0.02, 0.04)
    capped = intent_for(BAR, _entry(), Settings(position_fraction=1.0), equity=1000.0, cash=150.0)
    assert capped.notional == 150.0
    own = intent_for(BAR, _entry(stop_loss=90.0, take_profit=130.0), Settings(), 1000.0, 1000.0)
    assert (own.stop_loss, own.take_profit) == (90.0, 130.0)
    none = intent_for(BAR, _entry(), Settings(stop_loss_pct=None, take_profit_pct=None), 1e3, 1e3)
    assert (none.stop_loss, none.take_profit) == (None, None)


@pytest.mark.parametrize(
    ("equity", "cash", "field"),
    [(float("nan"), 100.0, "equity"), (-5.0, 100.0, "equity"), (100.0, float("inf"), "cash")],
)
def test_hostile_account_numbers_are_an_outcome_naming_the_field(btc_1h, equity, cash, field):
    bars = btc_1h.iloc[:400].reset_index(drop=True)
    strategy = get_strategy("macd", {})
    signals = strategy.signals(bars)
    i = int(np.flatnonzero(signals["entry"].to_numpy())[-1])
    bar = BarKey(SERIES, pd.Timestamp(bars["ts"].iloc[i]).to_pydatetime())
    result = evaluate_bar(
        bars.iloc[: i + 1],
        bar,
        strategy,
        in_position=False,
        equity=equity,
        cash=cash,
        cfg=Settings(),
        market_now=bar.ts + timedelta(hours=1),
    )
    assert result.intent is None
    assert result.outcome.startswith("invalid intent:") and field in result.outcome
    assert result.invalid is not None


def test_a_bar_missing_from_the_history_is_skipped(btc_1h) -> None:
    bars = btc_1h.iloc[:400]
    late = BarKey(SERIES, pd.Timestamp(bars["ts"].iloc[-1]).to_pydatetime() + timedelta(hours=1))
    result = evaluate_bar(
        bars,
        late,
        get_strategy("macd", {}),
        in_position=False,
        equity=1e3,
        cash=1e3,
        cfg=Settings(),
        market_now=late.ts,
    )
    assert result.intent is None and result.outcome.startswith("skipped: bar not in fct_signals")
