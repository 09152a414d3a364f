"""Lookahead analysis: the peeking example is flagged, every built-in on real data is clean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.analysis.helpers import EMA_CROSS, LOOKAHEAD_EXAMPLE, strategy_source, write
from trading_core.analysis.lookahead import cut_points, first_difference, lookahead_analysis
from trading_core.backtest import DataError, read_ohlcv_csv
from trading_core.strategies import STRATEGIES, get_strategy, spread_bars
from trading_core.strategies.registry import strategy_from_file


def test_the_lookahead_example_is_flagged(btc_1d: pd.DataFrame) -> None:
    report = lookahead_analysis(btc_1d, strategy_from_file(LOOKAHEAD_EXAMPLE))
    assert report.lookahead is True
    by_column = {f.column: f for f in report.findings}
    assert {"entry", "exit", "next_close"} <= set(by_column)
    peek = by_column["next_close"]
    # The next close is unknown on the cut bar itself: the first bar that changes is a cut.
    assert peek.first_changed_index == peek.truncated_at_index
    assert peek.truncated_value is None and peek.full_value > 0
    assert peek.cuts_changed == len(report.cuts) == 20
    assert by_column["entry"].kind == "signal" and peek.kind == "indicator"
    assert report.to_dict()["lookahead"] is True


@pytest.mark.parametrize("name", sorted(n for n in STRATEGIES if n != "arbitrage"))
def test_no_builtin_is_flagged_on_real_candles(xrp_1d: pd.DataFrame, name: str) -> None:
    report = lookahead_analysis(xrp_1d, get_strategy(name))
    assert report.findings == [], report.findings
    assert report.lookahead is False
    assert report.cuts and "trades" in report.columns_checked
    assert len(report.columns_checked) > 8  # signals plus the strategy's indicators


def test_arbitrage_is_not_flagged_on_two_real_series(shared_data: Path) -> None:
    one_hour = read_ohlcv_csv(shared_data / "market" / "binance_BTCUSDT_1h.csv")
    four_hour = read_ohlcv_csv(shared_data / "market" / "binance_BTCUSDT_4h.csv")
    bars = spread_bars(one_hour, four_hour)
    report = lookahead_analysis(bars, get_strategy("arbitrage", {"min_edge_bps": 50}))
    assert report.signal_bars > 0 and report.findings == []


def test_the_ema_cross_example_is_clean(btc_1d: pd.DataFrame) -> None:
    report = lookahead_analysis(btc_1d, strategy_from_file(EMA_CROSS, {"fast": 10, "slow": 40}))
    assert report.lookahead is False
    assert {"ema_10", "ema_40"} <= set(report.columns_checked)


@pytest.mark.parametrize(
    ("case", "signal"),
    [
        ("centred", "bars['close'] > bars['close'].rolling(5, center=True).mean()"),
        ("whole_series", "bars['close'] > bars['close'].mean()"),
        ("future_max", "bars['close'] >= bars['close'][::-1].cummax()[::-1]"),
    ],
)
def test_other_kinds_of_peek_are_flagged(
    tmp_path: Path, btc_1d: pd.DataFrame, case: str, signal: str
) -> None:
    path = write(tmp_path, f"{case}.py", strategy_source("Peek", f"peek_{case}", signal))
    report = lookahead_analysis(btc_1d, strategy_from_file(path), max_cuts=5)
    assert report.lookahead, case
    assert {f.column for f in report.findings} & {"entry", "exit"}


def test_cut_points_sample_signals_evenly_and_refuse_zero() -> None:
    signals = np.arange(10, 1000, 10)
    cuts = cut_points(signals, 1000, 0, 5)
    assert cuts[0] == 10 and cuts[-1] == 990 and len(cuts) == 5
    assert cut_points(np.array([], dtype=int), 100, 20, 4) == [20, 46, 73, 99]
    with pytest.raises(ValueError, match="max_cuts"):
        cut_points(signals, 1000, 0, 0)


def test_first_difference_treats_nan_as_equal_and_finds_the_first_change() -> None:
    a = pd.Series([1.0, np.nan, 3.0, 4.0])
    assert first_difference(a, a.copy()) is None
    assert first_difference(a, pd.Series([1.0, np.nan, 3.5, 5.0])) == 2
    assert first_difference(pd.Series([True, False]), pd.Series([True, True])) == 1
    assert first_difference(pd.Series(["a", ""]), pd.Series(["a", ""])) is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.iloc[0:0], "no rows"),
        (lambda b: b.assign(close=b["close"].where(b.index != 7, np.nan)), "'close'.*row 7"),
        (lambda b: b.assign(high=b["high"].where(b.index != 3, np.inf)), "'high'.*row 3"),
        (lambda b: pd.concat([b, b.iloc[[5]]]).sort_values("ts"), "strictly increasing"),
    ],
)
def test_hostile_bars_are_data_errors(btc_1d: pd.DataFrame, mutate, message: str) -> None:
    with pytest.raises(DataError, match=message):
        lookahead_analysis(mutate(btc_1d.iloc[:50]), get_strategy("macd"))
