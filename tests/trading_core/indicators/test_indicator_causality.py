"""No lookahead, no warm-up dependence beyond the documented warm-up, and input checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core import indicators as ind


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "market" / "binance_BTCUSDT_1d.csv")


@pytest.mark.parametrize("convention", ["talib", "pandas"])
def test_truncating_at_a_bar_gives_the_same_value_for_that_bar(
    btc: pd.DataFrame, convention: str
) -> None:
    full = ind.compute_all(btc, convention=convention)
    for t in np.linspace(0, len(btc) - 1, 45).astype(int):
        truncated = ind.compute_all(btc.iloc[: t + 1], convention=convention)
        np.testing.assert_array_equal(
            truncated.iloc[-1].to_numpy(), full.iloc[t].to_numpy(), err_msg=f"bar {t}"
        )


@pytest.mark.parametrize("offset", [1, 37, 500])
def test_a_later_start_only_changes_values_inside_warmup_and_settle(
    btc: pd.DataFrame, offset: int
) -> None:
    full = ind.compute_all(btc)
    late = ind.compute_all(btc.iloc[offset:].reset_index(drop=True))
    for column in ind.INDICATOR_COLUMNS:
        values = late[column].to_numpy()
        warmup = ind.WARMUP[column]
        assert np.isnan(values[:warmup]).all(), column
        assert not np.isnan(values[warmup:]).any(), column
        reference = full[column].to_numpy()[offset:]
        if column == "obv":
            # A running total: the level shifts by a constant, the changes are identical.
            np.testing.assert_allclose(np.diff(values), np.diff(reference), rtol=0, atol=1e-6)
            continue
        settled = warmup + ind.SETTLE[column]
        assert settled < len(values) - 50, f"{column}: test series too short"
        if ind.SETTLE[column] == 0:
            np.testing.assert_array_equal(values[settled:], reference[settled:], err_msg=column)
        else:
            scale = np.median(np.abs(reference[settled:]))
            np.testing.assert_allclose(
                values[settled:], reference[settled:], rtol=0, atol=1e-8 * scale, err_msg=column
            )


def test_recursive_columns_do_depend_on_history_before_they_settle(btc: pd.DataFrame) -> None:
    # Guards the test above against vacuity: the seed matters until SETTLE says otherwise.
    full = ind.compute_all(btc)
    late = ind.compute_all(btc.iloc[37:].reset_index(drop=True))
    for column in ("ema_200", "rsi_14", "adx_14", "macd_signal_12_26_9", "atr_14"):
        at = ind.WARMUP[column]
        assert late[column].iloc[at] != full[column].iloc[37 + at], column


def test_compute_all_names_missing_columns() -> None:
    frame = pd.DataFrame({"open": [1.0], "close": [1.0]})
    with pytest.raises(ValueError, match=r"lacks columns \['high', 'low', 'volume'\]"):
        ind.compute_all(frame)


def test_compute_all_refuses_unsorted_rows(btc: pd.DataFrame) -> None:
    shuffled = btc.iloc[[1, 0, 2]]
    with pytest.raises(ValueError, match="increasing 'timestamp' order"):
        ind.compute_all(shuffled)


def test_a_hole_in_prices_is_an_error_naming_its_position(btc: pd.DataFrame) -> None:
    broken = btc.copy()
    broken.loc[10, "close"] = np.nan
    with pytest.raises(ValueError, match="close has NaN at position 10"):
        ind.rsi(broken["close"])


def test_bad_convention_and_periods_are_named() -> None:
    close = pd.Series(np.linspace(1, 2, 50))
    with pytest.raises(ValueError, match=r"allowed: \('talib', 'pandas'\)"):
        ind.ema(close, 5, convention="vectorbt")
    with pytest.raises(ValueError, match=r"fast \(26\) must be < slow \(12\)"):
        ind.macd(close, 26, 12)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        ind.rsi(close, 1)


def test_flat_market_reads_neutral_not_extreme() -> None:
    flat = pd.Series(np.full(40, 5.0))
    assert ind.rsi(flat).iloc[-1] == 50.0
    bars = pd.DataFrame({"high": flat, "low": flat, "close": flat})
    assert ind.williams_r(bars.high, bars.low, bars.close).iloc[-1] == 0.0
    assert ind.cci(bars.high, bars.low, bars.close).iloc[-1] == 0.0


def test_compute_per_series_keeps_series_apart(btc: pd.DataFrame) -> None:
    one = btc.iloc[:300].assign(exchange="binance", symbol="BTC/USDT", timeframe="1d")
    two = btc.iloc[300:700].assign(exchange="binance", symbol="ETH/USDT", timeframe="1d")
    long = pd.concat([two, one]).rename(columns={"timestamp": "ts"})
    out = ind.compute_per_series(long)
    assert len(out) == 700
    eth = out[out.symbol == "ETH/USDT"].reset_index(drop=True)
    alone = ind.compute_all(two.reset_index(drop=True))
    pd.testing.assert_frame_equal(eth[list(ind.INDICATOR_COLUMNS)], alone)


def test_session_vwap_restarts_each_utc_day() -> None:
    ts = pd.Series(pd.date_range("2025-01-01 22:00", periods=4, freq="h"))
    price = pd.Series([10.0, 20.0, 30.0, 40.0])
    volume = pd.Series([1.0, 3.0, 1.0, 1.0])
    got = ind.session_vwap(ts, price, price, price, volume)
    np.testing.assert_allclose(got, [10.0, 17.5, 30.0, 35.0])
