"""Recursive analysis: startup bars measured by bisection equal a direct linear scan."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from tests.analysis.helpers import EMA_CROSS
from trading_core.analysis.recursive import recursive_analysis, startup_needed
from trading_core.indicators import macd, rsi
from trading_core.strategies import get_strategy
from trading_core.strategies.base import ema_settle_bars, wilder_settle_bars
from trading_core.strategies.registry import strategy_from_file

TOL = 1e-9


def direct_startups(
    close: pd.Series, indicator: Callable[[pd.Series], pd.Series], limit: int
) -> tuple[int, int]:
    """By trying every startup s < limit with the indicator function itself: the first s
    whose s, s+1 and s+2 bars of history give the full value at the last bar to TOL of its
    scale, and the s from which every startup does. The error wobbles near the threshold
    (the seed error depends on the close it starts from), so the truth lies between."""
    full = indicator(close).to_numpy(dtype=float)
    reference = full[-1]
    scale = max(abs(reference), float(np.nanmedian(np.abs(full))))

    def ok(s: int) -> bool:
        value = indicator(close.iloc[len(close) - 1 - s :].reset_index(drop=True)).iloc[-1]
        return bool(np.isfinite(value)) and abs(value - reference) <= TOL * scale

    good = [ok(s) for s in range(limit + 2)]
    first = next(s for s in range(limit) if all(good[s : s + 3]))
    always = max(s for s in range(limit) if not good[s]) + 1
    return first, always


def startups(report) -> dict[str, int]:
    return {c.column: c.startup_bars for c in report.indicators}


def test_ema_startup_matches_a_direct_scan_and_the_formula(btc_1d: pd.DataFrame) -> None:
    report = recursive_analysis(btc_1d, strategy_from_file(EMA_CROSS, {"fast": 10, "slow": 40}))
    close = btc_1d["close"]
    for span in (10, 40):
        measured = startups(report)[f"ema_{span}"]
        first, always = direct_startups(
            close, lambda c, n=span: c.ewm(span=n, adjust=False).mean(), 2 * ema_settle_bars(span)
        )
        assert first <= measured <= always
        # The seed's error is a fraction of the price, so fewer bars than the 1e-9-of-seed
        # bound suffice - but the same order of magnitude.
        assert 0.5 * ema_settle_bars(span) < measured <= ema_settle_bars(span)
    assert report.needed <= report.warmup_bars and report.enough


def test_macd_startup_matches_a_direct_scan(btc_1d: pd.DataFrame) -> None:
    strategy = get_strategy("macd", {"fast": 12, "slow": 26, "signal": 9})
    measured = startups(recursive_analysis(btc_1d, strategy))
    close = btc_1d["close"]
    for column in ("macd_12_26_9", "macd_signal_12_26_9"):
        first, always = direct_startups(
            close, lambda c, k=column: macd(c, 12, 26, 9, "pandas")[k], 600
        )
        assert first <= measured[column] <= always
        assert always - first < 0.25 * always  # the wobble is a small part of the startup
    # MACD's scale (its median size) is ~1 % of the price the seed errs in, so it needs a
    # few more bars than one EMA's 1e-9-of-seed bound - and fewer than the declared warm-up.
    assert ema_settle_bars(26) < measured["macd_12_26_9"] < 2 * ema_settle_bars(26)
    bound = ema_settle_bars(26) + ema_settle_bars(9)
    assert measured["macd_signal_12_26_9"] <= bound <= strategy.warmup_bars


def test_rsi_startup_matches_a_direct_scan_and_bollinger_is_its_window(
    xrp_1d: pd.DataFrame,
) -> None:
    strategy = get_strategy("swing", {"rsi_period": 14, "bb_period": 20})
    measured = startups(recursive_analysis(xrp_1d, strategy))
    first, always = direct_startups(xrp_1d["close"], lambda c: rsi(c, 14), 600)
    assert first <= measured["rsi_14"] <= always
    assert 14 < measured["rsi_14"] <= 14 + wilder_settle_bars(14)
    assert measured["bb_middle_20_2"] == 19  # a window: exact once it is full


def test_report_keys_and_a_declared_warmup_that_is_too_short(btc_1d: pd.DataFrame) -> None:
    strategy = strategy_from_file(EMA_CROSS, {"fast": 10, "slow": 40})
    report = recursive_analysis(btc_1d, strategy).to_dict()
    assert set(report) >= {"indicators", "needed", "warmup_bars", "enough", "evaluated_at"}
    assert report["evaluated_at"] == "2026-01-05T00:00:00"
    type(strategy).warmup_bars = property(lambda self: 5)  # type: ignore[assignment]
    short = recursive_analysis(btc_1d, strategy)
    assert short.warmup_bars == 5 and short.enough is False


def test_short_data_is_reported_as_limited(btc_1d: pd.DataFrame) -> None:
    report = recursive_analysis(btc_1d.iloc[:60], get_strategy("macd"))
    assert all(c.limited_by_data for c in report.indicators if c.column.startswith("macd_"))


def test_startup_search_finds_the_boundary() -> None:
    assert startup_needed(lambda s: s >= 37, 1000) == 37
    assert startup_needed(lambda s: True, 10) == 0
    assert startup_needed(lambda s: s >= 10, 10) == 10
    # a lucky single bar does not count: three in a row must agree
    assert startup_needed(lambda s: s == 4 or s >= 50, 1000) == 50


@pytest.mark.parametrize("tolerance", [0.0, -1e-9, 1.0, float("nan"), float("inf")])
def test_bad_tolerance_is_an_error_naming_it(btc_1d: pd.DataFrame, tolerance: float) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        recursive_analysis(btc_1d, get_strategy("macd"), tolerance=tolerance)
