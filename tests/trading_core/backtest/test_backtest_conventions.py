"""Fill conventions of the backtester on small hand-checked bars."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest import BacktestConfig, run_backtest
from trading_core.strategies import Strategy, StrategyParams


class NoParams(StrategyParams):
    pass


class Scripted(Strategy):
    """Emits the signals it is given: lets each test state exactly what happens when."""

    name = "scripted"
    params_model = NoParams

    def __init__(self, **columns: list) -> None:
        super().__init__()
        self.columns = columns

    @property
    def warmup(self) -> int:
        return 0

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self.columns, index=bars.index)


def make_bars(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    o, h, lo, c = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "ts": pd.date_range("2025-01-01", periods=len(rows), freq="D"),
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": 1.0,
        }
    )


FLAT = [(100.0, 101.0, 99.0, 100.0)] * 2
BARS = make_bars(
    [
        (100.0, 101.0, 99.0, 100.0),
        (100.0, 106.0, 99.0, 105.0),
        (105.0, 111.0, 104.0, 110.0),
        (110.0, 112.0, 107.0, 108.0),
        (108.0, 109.0, 100.0, 102.0),
    ]
)


def test_default_fill_is_at_the_signal_close_with_fee_on_both_sides() -> None:
    strategy = Scripted(entry=[False, True, False, False, False], exit=[False] * 3 + [True, False])
    result = run_backtest(BARS, strategy, BacktestConfig(initial_cash=1000.0, fee=0.01))
    trade = result.trades.iloc[0]
    quantity = 1000.0 / (105.0 * 1.01)
    assert trade["entry_price"] == 105.0 and trade["exit_price"] == 108.0
    assert trade["quantity"] == pytest.approx(quantity, rel=1e-15)
    assert trade["proceeds"] == pytest.approx(quantity * 108.0 * 0.99, rel=1e-15)
    assert result.metrics["final_equity"] == pytest.approx(quantity * 108.0 * 0.99, rel=1e-15)
    assert result.equity.iloc[1] == pytest.approx(quantity * 105.0, rel=1e-15)
    assert result.metrics["entries"] == 1 and result.metrics["closed_trades"] == 1


def test_next_open_fills_at_the_following_bar_open_with_slippage() -> None:
    strategy = Scripted(entry=[False, True, False, False, False], exit=[False] * 3 + [True, False])
    config = BacktestConfig(fill="next_open", fee=0.0, slippage_bps=100.0)
    trade = run_backtest(BARS, strategy, config).trades.iloc[0]
    assert trade["entry_ts"] == BARS["ts"][2] and trade["entry_price"] == pytest.approx(105 * 1.01)
    assert trade["exit_ts"] == BARS["ts"][4] and trade["exit_price"] == pytest.approx(108 * 0.99)


def test_a_signal_on_the_last_bar_under_next_open_is_dropped() -> None:
    strategy = Scripted(entry=[False, False, False, False, True], exit=[False] * 5)
    result = run_backtest(BARS, strategy, BacktestConfig(fill="next_open"))
    assert result.metrics["entries"] == 0 and result.open_trade is None


def test_stop_loss_wins_a_tie_with_take_profit() -> None:
    # Bar 3 spans both the stop (107.5) and the target (111): the stop is assumed first.
    strategy = Scripted(
        entry=[False, False, True, False, False],
        exit=[False] * 5,
        stop_loss=[np.nan, np.nan, 107.5, np.nan, np.nan],
        take_profit=[np.nan, np.nan, 111.0, np.nan, np.nan],
    )
    trade = run_backtest(BARS, strategy, BacktestConfig(fee=0.0)).trades.iloc[0]
    assert trade["exit_reason"] == "stop_loss"
    assert trade["exit_price"] == 107.5 and trade["exit_ts"] == BARS["ts"][3]


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    bars = make_bars([*FLAT, (90.0, 95.0, 88.0, 94.0)])
    strategy = Scripted(entry=[False, True, False], exit=[False] * 3)
    config = BacktestConfig(fee=0.0, stop_loss_pct=0.05)
    trade = run_backtest(bars, strategy, config).trades.iloc[0]
    assert trade["exit_reason"] == "stop_loss" and trade["exit_price"] == 90.0


def test_take_profit_pays_the_maker_fee_and_no_slippage() -> None:
    strategy = Scripted(entry=[True] + [False] * 4, exit=[False] * 5)
    config = BacktestConfig(fee=0.002, maker_fee=0.0005, slippage_bps=10, take_profit_pct=0.05)
    trade = run_backtest(BARS, strategy, config).trades.iloc[0]
    entry_price = 100.0 * 1.001
    assert trade["exit_reason"] == "take_profit"
    assert trade["exit_price"] == pytest.approx(entry_price * 1.05)
    assert trade["exit_fee"] == pytest.approx(trade["quantity"] * trade["exit_price"] * 0.0005)


def test_trailing_stop_follows_the_highest_high_of_previous_bars() -> None:
    strategy = Scripted(entry=[True] + [False] * 4, exit=[False] * 5)
    config = BacktestConfig(fee=0.0, trailing_stop_pct=0.05)
    trade = run_backtest(BARS, strategy, config).trades.iloc[0]
    # Highest high through bar 3 is 112: the trail sits at 106.4 and bar 4 (low 100) hits it.
    assert trade["exit_reason"] == "trailing_stop"
    assert trade["exit_ts"] == BARS["ts"][4]
    assert trade["exit_price"] == pytest.approx(112.0 * 0.95)


def test_limit_entry_rests_one_bar_and_fills_only_when_traded_through() -> None:
    strategy = Scripted(
        entry=[True, False, False, True, False],
        exit=[False] * 5,
        limit_price=[99.0, np.nan, np.nan, 101.0, np.nan],
    )
    config = BacktestConfig(fee=0.002, maker_fee=0.0, slippage_bps=50)
    result = run_backtest(BARS, strategy, config)
    # Bar 1's low is exactly 99: touching is not trading through, so no fill. Bar 4 trades
    # through 101 and fills there, at the maker fee without slippage.
    assert result.metrics["entries"] == 1
    assert result.open_trade is not None and result.open_trade["entry_price"] == 101.0
    assert result.open_trade["entry_ts"] == BARS["ts"][4]
    assert result.open_trade["quantity"] == pytest.approx(10_000.0 / 101.0)


def test_an_open_position_is_valued_at_the_last_close_unless_closed_at_end() -> None:
    strategy = Scripted(entry=[False, True, False, False, False], exit=[False] * 5)
    kept = run_backtest(BARS, strategy, BacktestConfig(fee=0.001))
    assert kept.metrics["entries"] == 1 and kept.metrics["closed_trades"] == 0
    quantity = 10_000.0 / (105.0 * 1.001)
    assert kept.metrics["final_equity"] == pytest.approx(quantity * 102.0)
    closed = run_backtest(BARS, strategy, BacktestConfig(fee=0.001, close_at_end=True))
    assert closed.metrics["closed_trades"] == 1
    assert closed.trades.iloc[0]["exit_reason"] == "end_of_window"
    assert closed.metrics["final_equity"] == pytest.approx(quantity * 102.0 * 0.999)


def test_size_fraction_keeps_the_rest_in_cash() -> None:
    strategy = Scripted(
        entry=[False, True, False, False, False],
        exit=[False] * 5,
        size_fraction=[1.0, 0.25, 1.0, 1.0, 1.0],
    )
    result = run_backtest(BARS, strategy, BacktestConfig(fee=0.0))
    assert result.metrics["final_equity"] == pytest.approx(7_500 + 2_500 / 105 * 102)


def test_history_before_trade_from_feeds_signals_but_not_the_window() -> None:
    strategy = Scripted(entry=[False, True, False, False, False], exit=[False] * 5)
    result = run_backtest(BARS, strategy, BacktestConfig(), trade_from=BARS["ts"][2])
    assert result.window_start == BARS["ts"][2] and result.bars == 3
    assert result.history_bars == 2
    assert result.metrics["entries"] == 0  # the entry signal fell before the window
    assert result.metrics["buy_and_hold"] == pytest.approx(102.0 / 110.0 - 1)


def test_every_report_states_window_fees_and_conventions() -> None:
    strategy = Scripted(entry=[False, True, False, False, False], exit=[False] * 5)
    config = BacktestConfig(fee=0.001, slippage_bps=5, stop_loss_pct=0.1)
    result = run_backtest(BARS, strategy, config)
    text = result.describe()
    for expected in (
        "2025-01-01T00:00:00 -> 2025-01-05T00:00:00 (5 bars",
        "at close; taker fee 0.1000%, maker fee 0.1000%; slippage 5 bps",
        "stop-loss 10.00%",
        "stop-loss first",
        "valued at last close",
    ):
        assert expected in text
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["window"]["start"] == "2025-01-01T00:00:00"
    assert as_json["conventions"]["taker_fee"] == 0.001
    assert as_json["metrics"]["win_rate"] is None  # no closed trade: undefined, not 0


def test_bad_config_names_the_field_and_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="fill\n  Input should be 'close' or 'next_open'"):
        BacktestConfig(fill="open")
    with pytest.raises(ValueError, match="fee\n  Input should be greater than or equal to 0"):
        BacktestConfig(fee=-0.1)
