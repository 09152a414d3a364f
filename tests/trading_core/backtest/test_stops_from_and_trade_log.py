"""``stops_from`` (fill | next) and the trade journal, on hand-checked candles and real data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.trading_core.backtest.test_backtest_conventions import Scripted, make_bars
from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest, window
from trading_core.backtest.trade_log import market_conditions
from trading_core.strategies import get_strategy

# Signal at bar 0's close; next_open entry at bar 1's open (100). Bar 1 dips to 96 (a 3 %
# stop at 97 is touched on the fill bar) and closes at 104; bar 2 never goes below 101; bar 3
# drops through 97 (low 95, open 99).
CANDLES = make_bars(
    [
        (100.0, 101.0, 99.0, 100.0),
        (100.0, 105.0, 96.0, 104.0),
        (104.0, 108.0, 101.0, 107.0),
        (99.0, 100.0, 95.0, 96.0),
        (96.0, 97.0, 94.0, 95.0),
    ]
)
ENTER_ONCE = {"entry": [True, False, False, False, False], "exit": [False] * 5}


def run(stops_from: str, **extra: object) -> tuple[pd.DataFrame, list[dict]]:
    config = BacktestConfig(
        fill="next_open", fee=0.0, stop_loss_pct=0.03, stops_from=stops_from, **extra
    )
    result = run_backtest(CANDLES, Scripted(**ENTER_ONCE), config)
    return result.trades, result.trade_log


def test_stops_from_fill_checks_the_stop_on_the_fill_bar_itself() -> None:
    trades, log = run("fill")
    trade = trades.iloc[0]
    # hand-checked: stop = 100 * 0.97 = 97; bar 1's low 96 <= 97, open 100 > 97 -> fill at 97
    assert trade["entry_ts"] == CANDLES["ts"][1] and trade["entry_price"] == 100.0
    assert trade["exit_ts"] == CANDLES["ts"][1] and trade["exit_price"] == 100.0 * 0.97
    assert trade["exit_reason"] == "stop_loss" and trade["bars_held"] == 0
    assert trade["pnl"] == pytest.approx(-300.0)
    # the exit bar's exit was intrabar: only the entry and exit prices count for excursions
    assert log[0]["mfe"] == 0.0 and log[0]["mae"] == pytest.approx(-0.03)


def test_stops_from_next_checks_from_the_bar_after_the_fill() -> None:
    trades, log = run("next")
    trade = trades.iloc[0]
    # bar 1 (the fill bar) is not checked; bar 2's low 101 > 97; bar 3 gaps: open 99 > 97,
    # low 95 <= 97 -> fills at the stop, 97
    assert trade["entry_ts"] == CANDLES["ts"][1] and trade["entry_price"] == 100.0
    assert trade["exit_ts"] == CANDLES["ts"][3] and trade["exit_price"] == 100.0 * 0.97
    assert trade["bars_held"] == 2 and trade["exit_reason"] == "stop_loss"
    # held through bars 1 and 2: highest high 108, lowest low 96; exit bar adds only 97
    entry = log[0]
    assert entry["mfe_price"] == 108.0 and entry["mfe"] == pytest.approx(0.08)
    assert entry["mae_price"] == 96.0 and entry["mae"] == pytest.approx(-0.04)
    assert entry["holding_bars"] == 2 and entry["holding_period"] == "P2DT0H0M0S"


def test_stops_from_does_not_change_close_fills() -> None:
    for stops_from in ("fill", "next"):
        config = BacktestConfig(fee=0.0, stop_loss_pct=0.03, stops_from=stops_from)
        trade = run_backtest(CANDLES, Scripted(**ENTER_ONCE), config).trades.iloc[0]
        # entry at bar 0's close (100); bar 1 is the first checked bar either way
        assert trade["exit_ts"] == CANDLES["ts"][1] and trade["exit_price"] == 97.0


def test_stops_from_is_validated_and_reported() -> None:
    with pytest.raises(ValueError, match="stops_from\n  Input should be 'fill' or 'next'"):
        BacktestConfig(stops_from="later")
    result = run_backtest(CANDLES, Scripted(**ENTER_ONCE), BacktestConfig(stops_from="next"))
    assert result.to_dict()["conventions"]["stops_from"] == "next"
    assert "stops_from=next" in result.describe()


def test_trade_log_objects_have_every_journal_field_and_iso_utc_times() -> None:
    strategy = Scripted(
        entry=[True, False, False, True, False], exit=[False, False, True, False, False]
    )
    result = run_backtest(CANDLES, strategy, BacktestConfig(fee=0.01))
    closed, still_open = result.trade_log
    assert closed["entry_ts"] == "2025-01-01T00:00:00+00:00"
    assert closed["exit_ts"] == "2025-01-03T00:00:00+00:00"
    quantity = 10_000.0 / (100.0 * 1.01)
    assert closed["quantity"] == pytest.approx(quantity, rel=1e-15)
    assert closed["entry_value"] == pytest.approx(quantity * 100.0, rel=1e-15)
    assert closed["fee"] == pytest.approx(quantity * 100.0 * 0.01 + quantity * 107.0 * 0.01)
    assert closed["pnl"] == pytest.approx(quantity * 107.0 * 0.99 - 10_000.0)
    assert closed["return"] == pytest.approx(closed["pnl"] / 10_000.0)
    # close fill at bar 0: bars 1 and 2 were held (bar 2 until its close, the exit)
    assert closed["mfe_price"] == 108.0 and closed["mae_price"] == 96.0
    assert (closed["entry_reason"], closed["exit_reason"]) == ("", "signal")
    assert set(closed["entry_conditions"]) == {"atr_pct", "volatility", "regime"}
    assert closed["entry_conditions"]["regime"] == "unknown"  # 5 bars: still warming up
    assert still_open["exit_ts"] is None and still_open["exit_price"] is None
    assert still_open["mark_price"] == 95.0 and still_open["holding_bars"] == 1
    assert still_open["mfe_price"] == 97.0 and still_open["mae_price"] == 94.0
    assert still_open["pnl"] == pytest.approx(
        still_open["quantity"] * 95.0 - result.open_trade["cost"]
    )
    text = json.dumps(result.to_dict())  # JSON-ready, no NaN
    assert "NaN" not in text and json.loads(text)["trades"][1]["exit_ts"] is None


@pytest.fixture(scope="module")
def xrp_1d(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_1d.csv")


def test_on_real_data_fill_and_next_differ_and_both_keep_stops_after_entry(
    xrp_1d: pd.DataFrame,
) -> None:
    bars = window(xrp_1d, "2024-01-01", "2026-01-05")
    strategy = get_strategy("macd", {"fast": 12, "slow": 26, "signal": 9})
    results = {
        stops: run_backtest(
            bars,
            strategy,
            BacktestConfig(fill="next_open", stop_loss_pct=0.03, stops_from=stops),
        )
        for stops in ("fill", "next")
    }
    fill, nxt = results["fill"].trades, results["next"].trades
    assert results["fill"].trade_hash != results["next"].trade_hash
    assert results["fill"].metrics["total_return"] != results["next"].metrics["total_return"]
    # "fill" stops some trades out on their entry bar; "next" never does
    assert ((fill["bars_held"] == 0) & (fill["exit_reason"] == "stop_loss")).any()
    assert not (nxt["bars_held"] == 0).any()
    # every stop exit of either convention is hand-checkable against its exit bar
    for trades in (fill, nxt):
        for trade in trades[trades["exit_reason"] == "stop_loss"].itertuples():
            bar = bars[bars["ts"] == trade.exit_ts].iloc[0]
            stop = trade.entry_price * 0.97
            assert bar["low"] <= stop
            assert trade.exit_price == min(bar["open"], stop)


def test_market_conditions_use_no_later_bar(xrp_1d: pd.DataFrame) -> None:
    full = market_conditions(xrp_1d)
    cut = market_conditions(xrp_1d.iloc[:1500])
    pd.testing.assert_frame_equal(full.iloc[:1500], cut)
    assert full["regime"].iloc[-1] != "unknown"
    assert math.isfinite(full["atr_pct"].iloc[-1]) and full["volatility"].iloc[-1] > 0
    assert np.isnan(full["volatility"].iloc[5])  # 20-bar window not full yet
